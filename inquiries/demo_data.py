"""Demo data for `make run`: the knowledge base the FAQ agent answers from, and the product names
the entity extractor recognises.

The facts are the demo company's (an AutoFlow customer selling a SaaS product); operators replace
them in admin with their own.
"""

KNOWLEDGE_BASE: list[dict[str, str]] = [
    {
        "slug": "plans-and-pricing",
        "title": "Plans and pricing",
        "category": "sales",
        "keywords": "price cost plan starter growth enterprise per seat monthly annual discount",
        "body": (
            "We offer three plans. Starter costs $29 per seat per month and includes up to 5 seats, "
            "email support and 10,000 automated inquiries a month. Growth costs $79 per seat per month "
            "with unlimited seats, priority support, SSO and 100,000 inquiries a month. Enterprise is "
            "priced per contract and adds a dedicated success manager, a 99.95% uptime SLA, audit log "
            "export and on-premises deployment. Paying annually saves 15% on Starter and Growth."
        ),
    },
    {
        "slug": "free-trial",
        "title": "Free trial",
        "category": "sales",
        "keywords": "trial free test evaluate try days credit card",
        "body": (
            "Every plan starts with a 14-day free trial of the Growth features. No credit card is needed "
            "to start. At the end of the trial you choose a plan; if you do nothing, the workspace is "
            "paused (not deleted) for 30 days so you can come back to it."
        ),
    },
    {
        "slug": "refund-policy",
        "title": "Refund policy",
        "category": "billing",
        "keywords": "refund money back charge cancel reimburse prorated",
        "body": (
            "Monthly plans can be refunded in full within 14 days of the first payment. Annual plans "
            "are refunded pro rata for the unused full months when cancelled within the first 90 days. "
            "Refunds go back to the original payment method within 5-10 business days. Duplicate or "
            "incorrect charges are always refunded in full."
        ),
    },
    {
        "slug": "service-level-agreement",
        "title": "Uptime and support SLA",
        "category": "support",
        "keywords": "sla uptime availability response time outage incident status page",
        "body": (
            "Growth includes a 99.9% monthly uptime commitment; Enterprise 99.95% with service credits. "
            "First response times: critical incidents within 1 hour (Enterprise, 24/7), high priority "
            "within 4 business hours, normal within 1 business day. Live status and incident history "
            "are on our status page."
        ),
    },
    {
        "slug": "security-and-compliance",
        "title": "Security and compliance",
        "category": "security",
        "keywords": "security gdpr soc2 encryption data residency privacy iso dpa compliance certification audit",
        "body": (
            "Data is encrypted in transit (TLS 1.2+) and at rest (AES-256). We are SOC 2 Type II "
            "certified and GDPR compliant, and sign a data processing agreement on request. Enterprise "
            "customers can choose EU or US data residency or run the product on their own servers. "
            "Access to customer data is logged and reviewed. We are also ISO 27001 certified, and an "
            "independent penetration test runs every year. The SOC 2 report and the ISO 27001 certificate "
            "are shared under NDA on request."
        ),
    },
    {
        "slug": "integrations",
        "title": "Integrations",
        "category": "product",
        "keywords": "integration salesforce hubspot zendesk slack zapier webhook connect crm",
        "body": (
            "Built-in integrations: Salesforce, HubSpot, Zendesk, Intercom, Slack and Microsoft Teams. "
            "Anything else connects through our webhooks or Zapier. Integrations are available on every "
            "plan; Salesforce requires Growth or Enterprise."
        ),
    },
    {
        "slug": "api-access",
        "title": "API access and rate limits",
        "category": "product",
        "keywords": "api rest key token developer rate limit documentation sdk",
        "body": (
            "Every plan includes the REST API. Create API keys under Settings > API. Starter allows 60 "
            "requests per minute, Growth 600 and Enterprise custom limits. Documentation and OpenAPI "
            "specification are at /api/v1/docs."
        ),
    },
    {
        "slug": "data-export",
        "title": "Exporting your data",
        "category": "product",
        "keywords": "export download csv json backup data portability leave",
        "body": (
            "Admins can export all records as CSV or JSON at any time from Settings > Data. Exports of "
            "large workspaces are prepared in the background and e-mailed as a download link valid for "
            "7 days. Export is free on every plan."
        ),
    },
    {
        "slug": "cancellation",
        "title": "Cancelling a subscription",
        "category": "billing",
        "keywords": "cancel cancellation close account unsubscribe stop subscription terminate",
        "body": (
            "You can cancel at any time from Settings > Billing. The plan stays active until the end of "
            "the paid period, and data is kept for 30 days afterwards so you can export it or reactivate. "
            "After 30 days it is permanently deleted."
        ),
    },
    {
        "slug": "support-tiers",
        "title": "Support tiers and hours",
        "category": "support",
        "keywords": "support hours contact phone email chat help business hours priority",
        "body": (
            "Starter: e-mail support, Monday to Friday 9:00-18:00 CET. Growth: e-mail and chat with "
            "priority handling. Enterprise: 24/7 phone support for critical incidents and a named "
            "success manager. Write to support@example.com or use the chat in the app."
        ),
    },
    {
        "slug": "upgrading-plans",
        "title": "Upgrading or changing plans",
        "category": "sales",
        "keywords": "upgrade downgrade change plan switch seats add users",
        "body": (
            "Upgrade or add seats at any time from Settings > Billing; the difference is charged pro "
            "rata for the current period. Downgrades take effect at the next renewal. Moving to "
            "Enterprise goes through our sales team, who can also arrange a demo."
        ),
    },

    # Articles for the questions a B2B buyer asks alongside pricing (answered per question, with
    # the sentences that answer; orchestration/retrieval.py). Each sentence stands alone.
    {
        "slug": "single-sign-on", "title": "Single sign-on (SAML and OIDC)", "category": "security",
        "keywords": "sso single sign-on saml oidc okta azure entra google onelogin scim provisioning login",
        "body": (
            "Single sign-on is available on Growth and Enterprise. We support SAML 2.0 and OpenID Connect "
            "with Okta, Microsoft Entra ID (Azure AD), Google Workspace and OneLogin. Admins set it up under "
            "Settings > Security and can require SSO for every member. SCIM user provisioning is included "
            "on Enterprise."
        ),
    },
    {
        "slug": "gdpr-and-data-residency", "title": "GDPR and data residency", "category": "security",
        "keywords": "gdpr data residency hosting region eu us location processor dpa subprocessors",
        "body": (
            "Customer data is hosted on AWS: EU workspaces in Frankfurt (eu-central-1), US workspaces in "
            "Virginia (us-east-1). Data stays in the region chosen at sign-up. For GDPR we act as a data "
            "processor and sign a data processing agreement (DPA) with standard contractual clauses. The "
            "list of sub-processors is published on our trust page."
        ),
    },
    {
        "slug": "onboarding", "title": "Onboarding and implementation", "category": "sales",
        "keywords": "onboarding implementation setup kickoff training migration go-live rollout",
        "body": (
            "Starter and Growth customers onboard themselves with our setup guides and a weekly live "
            "webinar. Enterprise includes a guided implementation with a kickoff call and a named "
            "implementation manager. A typical Enterprise rollout goes live within 4 to 6 weeks. Data "
            "migration from Zendesk, Freshdesk or HubSpot is included at no extra charge."
        ),
    },
    {
        "slug": "invoices-and-payment-methods", "title": "Invoices and payment methods", "category": "billing",
        "keywords": "invoice invoicing receipt payment method credit card bank transfer purchase order vat",
        "body": (
            "We accept Visa, Mastercard and American Express. Annual plans can also be paid by bank "
            "transfer against an invoice, with 30-day payment terms. Invoices are available as PDF under "
            "Settings > Billing > Invoices and are e-mailed to the billing contact. Your VAT ID, billing "
            "address and purchase order number can be added there and appear on every invoice."
        ),
    },
    {
        "slug": "seat-management", "title": "Managing seats and members", "category": "billing",
        "keywords": "seat seats license members users add remove reassign viewer admin roles",
        "body": (
            "Admins add, remove and reassign seats under Settings > Members. A seat freed by a departing "
            "member can be given to someone else at no extra cost. Read-only viewers are free and do not "
            "need a seat. Each member has a role: admin, agent or viewer."
        ),
    },
    {
        "slug": "discounts", "title": "Nonprofit, education and startup discounts", "category": "sales",
        "keywords": "discount nonprofit non-profit charity education school university startup coupon",
        "body": (
            "Registered nonprofits and educational institutions get 30% off any plan. Startups younger "
            "than two years with less than $5M in funding get 50% off Growth for the first year. To apply, "
            "write to our sales team with proof of your status. These discounts combine with the annual "
            "billing discount."
        ),
    },
    {
        "slug": "mobile-apps", "title": "Mobile apps", "category": "product",
        "keywords": "mobile app ios android iphone ipad smartphone tablet notifications",
        "body": (
            "Native mobile apps for iOS (16 or later) and Android (10 or later) are free on every plan. "
            "The apps cover the inbox, replies and push notifications. Admin settings and reports are "
            "available in the web app only."
        ),
    },
    {
        "slug": "languages", "title": "Supported languages", "category": "product",
        "keywords": "language languages localization translation english german french spanish",
        "body": (
            "The app is available in English, German, French, Spanish, Portuguese and Dutch. Each member "
            "picks their language in their profile. Automated replies can be written in more than 30 "
            "languages. Our support team answers in English and German."
        ),
    },
    {
        "slug": "data-retention", "title": "Data retention and deletion", "category": "security",
        "keywords": "retention retain delete deletion erase erasure purge personal data backups",
        "body": (
            "Records are kept while your subscription is active, unless an admin sets a shorter "
            "retention period (from 30 days to 7 years) under Settings > Data. Admins can erase one "
            "contact's personal data on request, for example for a GDPR erasure request. Deleted data is "
            "removed from our backups within 35 days."
        ),
    },
]

# The demo company's plans and products (name, aliases); the plans are those of "plans-and-pricing".
PRODUCTS: list[tuple[str, list[str]]] = [
    ("Starter", ["Starter plan"]),
    ("Growth", ["Growth plan"]),
    ("Enterprise", ["Enterprise plan"]),
    ("REST API", ["API"]),
    ("Salesforce integration", ["Salesforce"]),
    ("HubSpot integration", ["HubSpot"]),
]
