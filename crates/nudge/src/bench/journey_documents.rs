//! The journeys and templates a benchmark defines, read from its definition text and
//! validated as a set, as documents ready to store.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use nudge_core::Timestamp;
use nudge_process::journeys::compile_journeys;
use nudge_store::{Document, DocumentKind};

use crate::apply::files::{self, Definition};

/// The documents of `text` (definition files' format, `file` naming it in errors), first
/// versions written at `now`; an error when they do not parse or do not compile together.
pub(crate) fn journey_documents(
    file: &str,
    text: &str,
    now: Timestamp,
) -> anyhow::Result<Vec<Document>> {
    let (located, problems) = files::parse_file(Path::new(file), text);
    if !problems.is_empty() {
        anyhow::bail!("the benchmark's journeys do not parse: {problems:?}");
    }
    let documents: Vec<Document> = located
        .into_iter()
        .filter_map(|l| match l.definition {
            Definition::Document { kind, name, body } => Some(Document {
                kind,
                name,
                version: 1,
                body,
                created_at: now,
                deleted: false,
            }),
            Definition::Segment { .. } | Definition::Computed { .. } => None,
        })
        .collect();
    let of = |kind: DocumentKind| -> Vec<Document> {
        documents
            .iter()
            .filter(|d| d.kind == kind)
            .cloned()
            .collect()
    };
    compile_journeys(
        &of(DocumentKind::Journey),
        &of(DocumentKind::Template),
        &BTreeSet::new(),
    )
    .context("the benchmark's journeys do not compile")?;
    Ok(documents)
}
