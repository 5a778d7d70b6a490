"""An Agent Factory webhook receiver in Python, standard library only (Python 3.8+).

Run:  AF_WEBHOOK_SECRET=whsec_... python3 receiver.py      (PORT defaults to 8000)
During a secret rotation, also set AF_WEBHOOK_PREVIOUS_SECRET to the old secret.

It verifies the Standard Webhooks headers (signature + timestamp, so replays are refused) and
falls back to X-AgentFactory-Signature, splitting it on commas: during a rotation it carries
one `sha256=` signature per live secret.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


class VerificationError(Exception):
    pass


def standard_key(secret):
    """Key of the webhook-signature scheme: base64 after whsec_, else the secret's UTF-8 bytes."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):], validate=True)
    return secret.encode("utf-8")


def verify(body, headers, secrets, now=None):
    """Returns the event (a dict) or raises VerificationError. `headers` keys are lower-case."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signature = headers.get("webhook-signature")
    if msg_id and timestamp and signature:
        if not timestamp.isdigit():
            raise VerificationError("invalid webhook-timestamp")
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
            raise VerificationError("timestamp outside the 5-minute tolerance")
        signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
        expected = [
            base64.b64encode(hmac.new(standard_key(s), signed, hashlib.sha256).digest()).decode()
            for s in secrets
        ]
        received = [p[3:] for p in signature.split() if p.startswith("v1,")]
    else:
        header = headers.get("x-agentfactory-signature")
        if not header:
            raise VerificationError("no signature headers")
        expected = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets]
        # Strip "sha256=" and compare each comma-separated signature with the hex digest:
        # comparing the digest with the whole header fails, and does so during every rotation.
        received = [
            p.strip()[len("sha256="):] for p in header.split(",") if p.strip().startswith("sha256=")
        ]
    if not any(hmac.compare_digest(r.encode(), e.encode()) for r in received for e in expected):
        raise VerificationError("signature mismatch")
    try:
        return json.loads(body)
    except ValueError:
        raise VerificationError("body is not JSON")


def handle(event):
    """Your code: keep it fast (answer within 5 s) and idempotent (dedupe on event["id"])."""
    if event["event"] == "conversation.message":
        print(f"message in {event['data']['conversation_id']}: {event['data']['message']}", flush=True)
    else:
        print(f"{event['event']} {event['id']}", flush=True)


class Receiver(BaseHTTPRequestHandler):
    secrets = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = verify(body, headers, self.secrets)
        except VerificationError as error:
            status = 400 if str(error) == "body is not JSON" else 401
            return self.reply(status, {"error": str(error)})
        handle(event)
        self.reply(200, {"ok": True})

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    secrets = [os.environ.get("AF_WEBHOOK_SECRET", "").strip()]
    if os.environ.get("AF_WEBHOOK_PREVIOUS_SECRET"):
        secrets.append(os.environ["AF_WEBHOOK_PREVIOUS_SECRET"].strip())
    if not secrets[0]:
        sys.exit("Set AF_WEBHOOK_SECRET to the endpoint's signing secret.")
    Receiver.secrets = secrets
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Receiver)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
