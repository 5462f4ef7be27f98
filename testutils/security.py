"""The keys and the secret run of the security tests (tests/test_security*.py): the fixtures
`keys` and `secret_run` in tests/conftest.py use them."""

WEBHOOK_KEY = "wk_security_matrix_0123456789abcdef"
ADMIN_KEY = "ak_security_matrix_fedcba9876543210"
SIGNING_SECRET = "whsec_c2VjdXJpdHktbWF0cml4LXNpZ25pbmctc2VjcmV0"

# Personal data of the run every route is asked about: no refusal may show any of it.
PII = {"sender_name": "Priya Confidential", "sender_email": "priya.confidential@leak.example",
       "subject": "Subject nobody else may read", "body": "Body text nobody else may read, card 4111."}
