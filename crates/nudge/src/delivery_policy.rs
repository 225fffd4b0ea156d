//! The delivery worker's sending rules, read from the configuration: per-channel consent
//! attributes and opt-in topics, the frequency cap and its deadline, quiet hours, and the
//! signed unsubscribe and tracking links (their base URL and key). Invalid values are startup
//! errors that name the variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use nudge_api::tracking::TrackingTokens;
use nudge_api::unsubscribe::links::{load_or_create_key, MIN_KEY_BYTES};
use nudge_api::unsubscribe::UnsubscribeLinks;
use nudge_core::WorkspaceId;
use nudge_delivery::tracking::{TrackingLinks, TrackingUrls};
use nudge_delivery::worker::{
    parse_period, ConsentRules, FrequencyCap, QuietHours, SendPolicy, UnsubscribeLinks as MakeLinks,
};
use serde_json::{json, Value};

use crate::config::DeliveryArgs;

/// Tracking URLs signed by the HTTP edge's tokens, which its `/t/` routes verify.
struct SignedTracking(TrackingTokens);

impl TrackingUrls for SignedTracking {
    fn open_url(&self, ws: WorkspaceId, delivery_id: &str) -> String {
        self.0.open_url(ws, delivery_id)
    }

    fn click_url(&self, ws: WorkspaceId, delivery_id: &str, target: &str) -> String {
        self.0.click_url(ws, delivery_id, target)
    }

    fn is_own(&self, url: &str) -> bool {
        self.0.is_own(url)
    }
}

/// Where the generated unsubscribe key is kept in the data directory.
pub const UNSUBSCRIBE_KEY_FILE: &str = "unsubscribe.key";

impl DeliveryArgs {
    fn consent_rules(&self) -> anyhow::Result<ConsentRules> {
        let mut channel_attributes = BTreeMap::new();
        for (channel, attribute, variable) in [
            (
                "email",
                &self.consent_email_attribute,
                "NUDGE_CONSENT_EMAIL_ATTRIBUTE",
            ),
            (
                "sms",
                &self.consent_sms_attribute,
                "NUDGE_CONSENT_SMS_ATTRIBUTE",
            ),
            (
                "push",
                &self.consent_push_attribute,
                "NUDGE_CONSENT_PUSH_ATTRIBUTE",
            ),
        ] {
            if let Some(name) = attribute
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                if name.contains(char::is_whitespace) {
                    anyhow::bail!("{variable}: '{name}' is not an attribute name");
                }
                channel_attributes.insert(channel.to_string(), name.to_string());
            }
        }
        let mut opt_in_topics = std::collections::BTreeSet::new();
        for topic in self.consent_opt_in_topics.iter().map(|t| t.trim()) {
            let numbered = topic.strip_prefix("topic_").is_some_and(|n| {
                !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
            });
            if topic.is_empty() {
                continue;
            }
            if !numbered {
                anyhow::bail!(
                    "NUDGE_CONSENT_OPT_IN_TOPICS: '{topic}' is not a topic such as topic_2"
                );
            }
            opt_in_topics.insert(topic.to_string());
        }
        Ok(ConsentRules {
            channel_attributes,
            opt_in_topics,
        })
    }

    fn cap(&self) -> anyhow::Result<Option<FrequencyCap>> {
        let deadline = parse_period(&self.frequency_cap_deadline)
            .map_err(|e| anyhow::anyhow!("NUDGE_FREQUENCY_CAP_DEADLINE: {e}"))?;
        let Some(text) = self
            .frequency_cap
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        else {
            return Ok(None);
        };
        FrequencyCap::parse(text, deadline)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("NUDGE_FREQUENCY_CAP: {e}"))
    }

    fn quiet(&self) -> anyhow::Result<Option<QuietHours>> {
        let Some(text) = self.quiet_hours.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        QuietHours::parse(text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("NUDGE_QUIET_HOURS: {e}"))
    }

    /// The rules the worker enforces; emails get unsubscribe and tracking links from `links`
    /// when given.
    pub fn send_policy(&self, links: Option<Arc<UnsubscribeLinks>>) -> anyhow::Result<SendPolicy> {
        Ok(SendPolicy {
            consent: self.consent_rules()?,
            frequency_cap: self.cap()?,
            quiet_hours: self.quiet()?,
            tracking_links: links
                .as_ref()
                .map(|links| TrackingLinks::new(SignedTracking(links.tracking_tokens()))),
            unsubscribe_links: links
                .map(|links| MakeLinks::new(move |ws, delivery_id| links.url(ws, delivery_id))),
        })
    }

    /// The signed links of a server listening on `listen`: under `NUDGE_PUBLIC_URL`, else that
    /// address; signed with `NUDGE_UNSUBSCRIBE_SECRET`, else the key kept in the data
    /// directory (created on first start).
    pub fn unsubscribe_links(
        &self,
        data_dir: &Path,
        listen: SocketAddr,
        tls: bool,
    ) -> anyhow::Result<UnsubscribeLinks> {
        let key = match self.unsubscribe_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(secret) if secret.len() < MIN_KEY_BYTES => anyhow::bail!(
                "NUDGE_UNSUBSCRIBE_SECRET must be at least {MIN_KEY_BYTES} characters"
            ),
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                let path = data_dir.join(UNSUBSCRIBE_KEY_FILE);
                load_or_create_key(&path)
                    .with_context(|| format!("the unsubscribe key in {}", path.display()))?
            }
        };
        let base = match self.public_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim().to_string()
            }
            Some(url) => {
                anyhow::bail!("NUDGE_PUBLIC_URL must start with http:// or https://, got '{url}'")
            }
            None => {
                let scheme = if tls { "https" } else { "http" };
                tracing::info!(
                    "NUDGE_PUBLIC_URL is not set: unsubscribe links point at {scheme}://{listen}"
                );
                format!("{scheme}://{listen}")
            }
        };
        Ok(UnsubscribeLinks::new(&key, &base))
    }

    /// The rules as `check-config` prints them (the unsubscribe key never).
    pub(crate) fn policy_effective(&self) -> anyhow::Result<Value> {
        let consent = self.consent_rules()?;
        let cap = self.cap()?;
        let quiet = self.quiet()?;
        Ok(json!({
            "consent_attributes": consent.channel_attributes,
            "opt_in_topics": consent.opt_in_topics,
            "frequency_cap": cap.as_ref().map(FrequencyCap::describe),
            "frequency_cap_deadline": self.frequency_cap_deadline,
            "quiet_hours": quiet.as_ref().map(QuietHours::describe),
            "public_url": self.public_url,
            "unsubscribe_secret": if self.unsubscribe_secret.is_some() { "(set)" } else { "(kept in the data directory)" },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_name_their_variable() {
        let with = |edit: fn(&mut DeliveryArgs)| {
            let mut args = DeliveryArgs::default();
            edit(&mut args);
            args.send_policy(None).map(|_| ()).unwrap_err().to_string()
        };
        assert!(
            with(|a| a.frequency_cap = Some("3 a day".into())).starts_with("NUDGE_FREQUENCY_CAP:")
        );
        assert!(with(|a| a.frequency_cap_deadline = "soon".into())
            .starts_with("NUDGE_FREQUENCY_CAP_DEADLINE:"));
        assert!(with(|a| a.quiet_hours = Some("9pm-8am".into())).starts_with("NUDGE_QUIET_HOURS:"));
        assert!(with(|a| a.consent_opt_in_topics = vec!["news".into()])
            .starts_with("NUDGE_CONSENT_OPT_IN_TOPICS:"));
        assert!(
            with(|a| a.consent_sms_attribute = Some("accepts sms".into()))
                .starts_with("NUDGE_CONSENT_SMS_ATTRIBUTE:")
        );
    }

    #[test]
    fn settings_become_the_workers_rules() {
        let args = DeliveryArgs {
            consent_sms_attribute: Some("accepts_sms".into()),
            consent_opt_in_topics: vec!["topic_2".into(), " ".into()],
            frequency_cap: Some("3/1d".into()),
            frequency_cap_deadline: "2d".into(),
            quiet_hours: Some("21:00-08:00".into()),
            ..DeliveryArgs::default()
        };
        let policy = args.send_policy(None).unwrap();
        assert_eq!(
            policy.consent.channel_attributes,
            [("sms".to_string(), "accepts_sms".to_string())].into()
        );
        assert_eq!(policy.consent.opt_in_topics, ["topic_2".to_string()].into());
        let cap = policy.frequency_cap.unwrap();
        assert_eq!((cap.limit, cap.deadline.as_secs()), (3, 2 * 86_400));
        assert_eq!(policy.quiet_hours.unwrap().describe(), "21:00-08:00");
        assert!(DeliveryArgs::default()
            .send_policy(None)
            .unwrap()
            .frequency_cap
            .is_none());
    }

    #[test]
    fn links_use_the_public_url_and_a_kept_key() {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:7700".parse().unwrap();
        let args = DeliveryArgs::default();
        let first = args.unsubscribe_links(dir.path(), listen, false).unwrap();
        let url = first.url(nudge_core::WorkspaceId(1), "d-1");
        assert!(
            url.starts_with("http://127.0.0.1:7700/unsubscribe/1."),
            "{url}"
        );
        let again = args.unsubscribe_links(dir.path(), listen, false).unwrap();
        let token = url.rsplit('/').next().unwrap();
        assert!(
            again.verify(token).is_some(),
            "the kept key signs the same way"
        );
        let public = DeliveryArgs {
            public_url: Some("https://nudge.example.com/".into()),
            unsubscribe_secret: Some("0123456789abcdefXYZ".into()),
            ..DeliveryArgs::default()
        };
        let links = public.unsubscribe_links(dir.path(), listen, false).unwrap();
        assert!(links
            .url(nudge_core::WorkspaceId(1), "d-1")
            .starts_with("https://nudge.example.com/unsubscribe/1."));
        assert!(links.verify(token).is_none(), "another key");
        let short = DeliveryArgs {
            unsubscribe_secret: Some("short".into()),
            ..DeliveryArgs::default()
        };
        assert!(short.unsubscribe_links(dir.path(), listen, false).is_err());
        let relative = DeliveryArgs {
            public_url: Some("nudge.example.com".into()),
            ..DeliveryArgs::default()
        };
        assert!(relative
            .unsubscribe_links(dir.path(), listen, false)
            .is_err());
    }
}
