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
        "keywords": "security gdpr soc2 encryption data residency privacy iso dpa compliance",
        "body": (
            "Data is encrypted in transit (TLS 1.2+) and at rest (AES-256). We are SOC 2 Type II "
            "certified and GDPR compliant, and sign a data processing agreement on request. Enterprise "
            "customers can choose EU or US data residency or run the product on their own servers. "
            "Access to customer data is logged and reviewed."
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
