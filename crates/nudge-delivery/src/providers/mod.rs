//! The channels that hand a message to a provider: email over SMTP, SMS through a
//! Twilio-compatible API, push through FCM HTTP v1, signed webhooks, and the recording-only
//! outbox. Each classifies the provider's answer into an `Outcome`; none retries, stores or
//! decides consent.

pub mod email;
pub mod http;
pub mod outbox;
pub mod push;
pub mod sms;
pub mod webhook;

pub use email::{EmailChannel, EmailSettings, EmailSetupError};
pub use outbox::OutboxChannel;
pub use push::{FcmPushChannel, PushSettings, ServiceAccount};
pub use sms::{SmsSettings, TwilioSmsChannel};
pub use webhook::{WebhookChannel, WebhookSettings};
