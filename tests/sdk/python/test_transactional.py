"""The transactional API through the official customerio Python SDK: APIClient.send_email with
a SendEmailRequest, by template and inline, with an attachment added by
SendEmailRequest.attach, checked in the ledger (GET /v1/messages/{id}). The server has no SMTP
provider, so the outbox channel records each message: sent, with the note that nothing left.
It runs on a virtual clock: POST /v1/clock answers once everything due (the delivery worker
too) is done, so nothing here waits by sleeping.
"""

import base64
import calendar
import time
import unittest
import uuid

from customerio import APIClient, CustomerIOException, SendEmailRequest

from nudge_server import NudgeServer

START = "2026-03-02T09:00:00Z"


def unix_seconds(rfc3339):
    """`2026-03-02T09:00:00Z` (milliseconds allowed) in unix seconds."""
    return calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class SendEmail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nudge = NudgeServer(virtual_clock=START)
        cls.api = APIClient(cls.nudge.creds["app_api_key"], url=cls.nudge.base_url)

    @classmethod
    def tearDownClass(cls):
        code, errors = cls.nudge.stop()
        assert code == 0, f"nudge did not shut down cleanly: exit {code}"
        assert errors == [], f"the server logged errors: {errors}"

    def ledger_entry(self, delivery_id):
        status, body = self.nudge.app("GET", f"/v1/messages/{delivery_id}")
        self.assertEqual(status, 200, body)
        return body["message"]

    def test_send_email_by_template_is_recorded_with_its_attachment(self):
        status, body = self.nudge.app(
            "PUT",
            "/v1/templates/password-reset",
            {
                "channel": "email",
                "subject": "Reset your password, {{ customer.first_name }}",
                "body": "Use {{ trigger.link }} within {{ trigger.hours }} hours.",
            },
        )
        self.assertEqual(status, 200, body)
        person = unique("reader")
        email = f"{person}@example.com"
        self.assertEqual(self.nudge.identify(person, {"email": email, "first_name": "Ada"}), 200)

        request = SendEmailRequest(
            to=email,
            transactional_message_id="Password-Reset",
            identifiers={"id": person},
            message_data={"link": "https://lumen.example/r/1", "hours": 2},
        )
        request.attach("help.txt", "Call us")
        now = self.nudge.now()
        answer = self.api.send_email(request)
        self.assertEqual(sorted(answer), ["delivery_id", "queued_at"])
        self.assertEqual(answer["queued_at"], unix_seconds(now))

        self.nudge.settle()
        message = self.ledger_entry(answer["delivery_id"])
        self.assertEqual(message["state"], "sent")
        self.assertEqual(message["type"], "email")
        self.assertEqual(message["recipient"], email)
        self.assertEqual(message["subject"], "Reset your password, Ada")
        self.assertEqual(message["body"], "Use https://lumen.example/r/1 within 2 hours.")
        self.assertEqual(message["reason"], "recorded only: no email provider is configured")
        self.assertEqual(message["payload"]["transactional_message_id"], "password-reset")
        self.assertEqual(
            message["payload"]["attachments"],
            {"help.txt": base64.b64encode(b"Call us").decode()},
        )

    def test_send_email_inline_waits_for_its_send_at(self):
        email = f"{unique('guest')}@example.com"
        later = unix_seconds(self.nudge.now()) + 3 * 3600
        answer = self.api.send_email(
            SendEmailRequest(
                to=email,
                identifiers={"email": email},
                _from="Lumen <hello@lumen.example>",
                subject="Your order ships at noon",
                body_plain="It ships at noon, {{ trigger.name }}.",
                message_data={"name": "guest"},
                send_at=later,
            )
        )
        self.assertEqual(answer["send_at"], later)
        self.nudge.settle()
        waiting = self.ledger_entry(answer["delivery_id"])
        self.assertEqual(waiting["state"], "queued")
        self.assertEqual(waiting["next_attempt"], later)
        self.nudge.advance_clock(
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(later))
        )
        message = self.ledger_entry(answer["delivery_id"])
        self.assertEqual(message["state"], "sent")
        self.assertEqual(message["body"], "It ships at noon, guest.")
        self.assertEqual(message["payload"]["from"], "hello@lumen.example")

    def test_a_refused_send_raises_with_the_reason(self):
        with self.assertRaises(CustomerIOException) as raised:
            self.api.send_email(
                SendEmailRequest(
                    to="someone@example.com",
                    identifiers={"email": "someone@example.com"},
                    transactional_message_id="no-such-template",
                )
            )
        text = str(raised.exception)
        self.assertTrue(text.startswith("400: "), text)
        self.assertIn("there is no template 'no-such-template'", text)


if __name__ == "__main__":
    unittest.main()
