// The transactional API through the official customerio-node SDK: APIClient.sendEmail with a
// SendEmailRequest, by template (a numeric transactional_message_id naming the template with
// that id) and inline, with an attachment added by SendEmailRequest.attach, checked in the
// ledger (GET /v1/messages/{id}). This server has no SMTP provider, so the outbox channel
// records each message: sent, with the note that nothing left. The server runs on a virtual
// clock: POST /v1/clock answers once everything due (the delivery worker too) is done, so
// nothing here waits by sleeping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIClient, SendEmailRequest, CustomerIORequestError } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const START = '2026-03-02T09:00:00Z';
const nudge = useNudge({ virtualClock: START });

/** PUT on the App API with a JSON body: `{status, body}`. */
async function appPut(pathAndQuery, payload) {
  const res = await fetch(`${nudge.baseUrl}${pathAndQuery}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${nudge.creds.app_api_key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
  });
  return { status: res.status, body: await res.json() };
}

/** Lets the server do everything due at its clock's time. */
async function settle() {
  const { body } = await nudge.appGet('/v1/clock');
  await nudge.advanceClock(body.now);
}

async function ledgerEntry(deliveryId) {
  const res = await nudge.appGet(`/v1/messages/${encodeURIComponent(deliveryId)}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.message;
}

test('sendEmail by template queues the message and the outbox channel records it', async () => {
  const put = await appPut('/v1/templates/42', {
    channel: 'email',
    subject: 'Order {{ trigger.order_id }} is confirmed',
    body: 'Thanks {{ customer.first_name }}, your total is {{ trigger.total | money }}.',
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const id = unique('buyer');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email, first_name: 'Ada' });

  const request = new SendEmailRequest({
    to: email,
    transactional_message_id: 42,
    identifiers: { id },
    message_data: { order_id: 'A-7', total: 84 },
  });
  request.attach('receipt.txt', 'paid in full');
  const answer = await nudge.api.sendEmail(request);
  assert.deepEqual(Object.keys(answer).sort(), ['delivery_id', 'queued_at']);
  assert.equal(answer.queued_at, Date.parse(START) / 1000);

  await settle();
  const message = await ledgerEntry(answer.delivery_id);
  assert.equal(message.state, 'sent');
  assert.equal(message.type, 'email');
  assert.equal(message.recipient, email);
  assert.equal(message.subject, 'Order A-7 is confirmed');
  assert.equal(message.body, 'Thanks Ada, your total is $84.00.');
  assert.equal(message.reason, 'recorded only: no email provider is configured');
  assert.equal(message.payload.transactional, true);
  assert.equal(message.payload.transactional_message_id, '42');
  assert.deepEqual(message.payload.attachments, {
    'receipt.txt': Buffer.from('paid in full').toString('base64'),
  });
});

test('sendEmail with inline content creates an unknown person, and errors reject with the reason', async () => {
  const email = `${unique('guest')}@example.com`;
  const answer = await nudge.api.sendEmail(
    new SendEmailRequest({
      to: email,
      identifiers: { email },
      from: 'Lumen <hello@lumen.example>',
      subject: 'Your guest order',
      body: '<p>We got your order, <b>{{ trigger.name }}</b>.</p>',
      message_data: { name: 'guest' },
      send_to_unsubscribed: false,
    }),
  );
  await settle();
  const message = await ledgerEntry(answer.delivery_id);
  assert.equal(message.state, 'sent');
  assert.equal(message.body, 'We got your order, guest.', 'the text part made from the HTML');
  assert.equal(message.payload.html, '<p>We got your order, <b>guest</b>.</p>');
  assert.equal(message.payload.from, 'hello@lumen.example');
  assert.equal(message.payload.send_to_unsubscribed, false);
  const person = await nudge.customer(email, 'email');
  assert.equal(person.identifiers.email, email, 'the person was created');

  await assert.rejects(
    nudge.api.sendEmail(
      new SendEmailRequest({ to: email, identifiers: { email }, transactional_message_id: 'missing' }),
    ),
    (err) => {
      assert.ok(err instanceof CustomerIORequestError);
      assert.equal(err.statusCode, 400);
      assert.equal(err.message, "transactional_message_id: there is no template 'missing'");
      return true;
    },
  );
  const stranger = new APIClient('not-a-key', { url: nudge.apiUrl });
  await assert.rejects(
    stranger.sendEmail(new SendEmailRequest({ to: email, identifiers: { email }, transactional_message_id: 42 })),
    (err) => err.statusCode === 401 && err.message === 'Unauthorized request',
  );
});
