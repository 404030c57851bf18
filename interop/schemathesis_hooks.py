"""Schemathesis hooks of tests/tests/interop_schemathesis.rs.

Loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks (this directory on
PYTHONPATH). They change two kinds of requests just before they are sent.

The run's own token (WHASSAP_TEST_TOKEN_ID) is not revoked: schemathesis
learns ids from earlier answers, `GET /api/v1/tokens` lists that token, and
revoking it would turn every later request into a 401. A `DELETE
/api/v1/tokens/{id}` of it goes to an id that does not exist instead (404);
tokens that schemathesis made itself are revoked as generated.

Webhook URLs are the one input that makes the server reach outside itself:
a registered webhook is called for every status posted afterwards, and a
URL whose host is a name is resolved (DNS) when it is registered and at
every delivery. So every webhook URL that schemathesis generates as a
string is replaced by the test's own receiver on 127.0.0.1
(WHASSAP_TEST_WEBHOOK_SINK; the test server allows private addresses for
it). Bodies whose `url` is not a string (wrong type, missing) are sent as
generated. URL validation itself is covered by tests/tests/rest_webhooks.rs.
"""

import os

import schemathesis

SINK = os.environ["WHASSAP_TEST_WEBHOOK_SINK"]
OWN_TOKEN_ID = os.environ["WHASSAP_TEST_TOKEN_ID"]


@schemathesis.hook
def before_call(context, case, kwargs):
    method = case.operation.method.upper()
    path = case.operation.path
    if method == "DELETE" and path == "/api/v1/tokens/{id}":
        parameters = case.path_parameters or {}
        if parameters.get("id") == OWN_TOKEN_ID:
            parameters["id"] = "not-" + OWN_TOKEN_ID
    elif method == "POST" and path == "/api/v1/webhooks":
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("url"), str):
            body["url"] = SINK
