from django import forms

from inquiries.models import ConfidenceBand, Intent, RunStatus, Sentiment

# One-click examples for the submit page: each exercises a different path of the workflow.
PRESETS = [
    {"key": "faq", "label": "FAQ: free trial", "sender_name": "Dana Lee", "sender_email": "dana@example.com",
     "subject": "Free trial", "body": "Hi! Is there a free trial, and do I need a credit card to start it?"},
    {"key": "lead", "label": "Sales: hot lead", "sender_name": "Marcus Webb", "sender_email": "marcus@bigcorp.example",
     "subject": "Buying for our support team",
     "body": "We want to roll AutoFlow out to 120 agents. Budget is $50,000 and we need to start this month."},
    {"key": "demo", "label": "Sales: demo request", "sender_name": "Priya Nair", "sender_email": "priya@acme.example",
     "subject": "Demo request", "body": "Could we book a 30 minute demo for our team of 12 next week?"},
    {"key": "outage", "label": "Support: production down", "sender_name": "Tom Berg",
     "sender_email": "tom@shop.example", "subject": "URGENT: production down",
     "body": "Our production system is down since 9am and nothing works. All our customers are affected."},
    {"key": "billing", "label": "Support: charged twice", "sender_name": "Lena Fischer",
     "sender_email": "lena@studio.example", "subject": "Charged twice",
     "body": "We were charged twice for the November invoice. Please refund the duplicate payment."},
]


class InquiryForm(forms.Form):
    """The webhook's InquiryRequest, as a form (same limits)."""

    sender_name = forms.CharField(label="Sender name", max_length=200)
    sender_email = forms.EmailField(label="Sender e-mail", max_length=254)
    subject = forms.CharField(max_length=500)
    body = forms.CharField(label="Message", max_length=5000, widget=forms.Textarea(attrs={"rows": 7}))

    def clean(self):
        data = super().clean()
        for field in ("sender_name", "subject", "body"):
            if field in data and not data[field].strip():
                self.add_error(field, "This field cannot be blank.")
        return data


class HistoryFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(choices=[("", "Any status"), *RunStatus.choices], required=False)
    intent = forms.ChoiceField(choices=[("", "Any intent"), *Intent.choices], required=False)
    escalated = forms.ChoiceField(choices=[("", "Escalated or not"), ("yes", "Escalated"), ("no", "Not escalated")],
                                  required=False)
    band = forms.ChoiceField(label="Confidence", choices=[("", "Any confidence"), *ConfidenceBand.choices],
                             required=False)
    # Two letters (ISO 639-1); the page offers the known codes as suggestions (<datalist id="languages">).
    language = forms.CharField(label="Language", required=False, max_length=8,
                               widget=forms.TextInput(attrs={"list": "languages", "placeholder": "en, de, …",
                                                             "autocomplete": "off"}))
    sentiment = forms.ChoiceField(choices=[("", "Any sentiment"), *Sentiment.choices], required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_language(self) -> str:
        code = self.cleaned_data["language"].strip().lower()
        if code and not (len(code) == 2 and code.isascii() and code.isalpha()):
            raise forms.ValidationError("A language is two letters (ISO 639-1), such as en or de.")
        return code


class ReportFilterForm(forms.Form):
    """The reports page's filters; the range defaults to the last 30 days (inquiries/reports.py)."""

    period = forms.ChoiceField(choices=[("day", "Per day"), ("week", "Per week"), ("month", "Per month")],
                               required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    intent = forms.ChoiceField(choices=[("", "Any intent"), *Intent.choices], required=False)
    band = forms.ChoiceField(label="Confidence", choices=[("", "Any confidence"), *ConfidenceBand.choices],
                             required=False)
    language = forms.CharField(label="Language", required=False, max_length=8,
                               widget=forms.TextInput(attrs={"list": "languages", "placeholder": "en, de, …",
                                                             "autocomplete": "off"}))

    def clean_period(self) -> str:
        return self.cleaned_data["period"] or "day"

    clean_language = HistoryFilterForm.clean_language


class DraftForm(forms.Form):
    draft = forms.CharField(label="Reply to the sender", max_length=6000, widget=forms.Textarea(attrs={"rows": 10}))


class ResolveForm(forms.Form):
    note = forms.CharField(label="Resolution note", max_length=5000, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))
