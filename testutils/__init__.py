"""The test harness: what the tests, bench/ and chaos/ share, importable from anywhere in the
checkout (the tests import only this package, scripts/ and the application).

    testutils.live         AutoFlow as real processes: LiveStack (scripts/stack.py's Stack with
                           production-like keys), web tier and worker helpers, admin login
    testutils.fake_ollama  a fake Ollama HTTP server, in this process or in its own
    testutils.tls_proxy    a TLS-terminating nginx (self-signed certificate) in front of a web tier
    testutils.workflow     accept an inquiry and execute its run in this process
    testutils.factories    model rows for tests
    testutils.inquiries    request payloads and the API's error envelope
    testutils.aio          running Channels scenarios from synchronous tests
    testutils.memory       memory of process trees, from /proc
"""
