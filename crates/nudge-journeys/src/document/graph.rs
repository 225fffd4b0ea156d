//! How steps connect: every jump names a step, every step is reachable from the first, and
//! no loop runs without a step that waits (it would spin forever inside one input).

use std::collections::BTreeMap;

use super::reader::{fail, Parsed};
use crate::model::{Step, StepKind};

/// One way from a step to another, with the pointer of the node that makes it.
struct Edge {
    from: usize,
    to: usize,
    pointer: String,
}

/// Checks the connections and returns the step index (id → position).
pub(crate) fn check(steps: &[Step]) -> Parsed<BTreeMap<String, usize>> {
    let index: BTreeMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| (step.id.clone(), i))
        .collect();
    let mut edges = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        for (target, pointer) in jumps(step, i) {
            let Some(&to) = index.get(target) else {
                return fail(&pointer, format!("no step '{target}' in this journey"));
            };
            edges.push(Edge {
                from: i,
                to,
                pointer,
            });
        }
        if step.next.is_none() && !step.kind.chooses_next() && i + 1 < steps.len() {
            edges.push(Edge {
                from: i,
                to: i + 1,
                pointer: format!("/steps/{i}"),
            });
        }
    }
    let mut outgoing: Vec<Vec<&Edge>> = (0..steps.len()).map(|_| Vec::new()).collect();
    for edge in &edges {
        outgoing[edge.from].push(edge);
    }
    reachable_from_first(steps, &outgoing)?;
    no_loop_without_wait(steps, &outgoing)?;
    Ok(index)
}

/// The explicit jumps out of a step: `(target id, pointer of the node naming it)`.
fn jumps(step: &Step, i: usize) -> Vec<(&str, String)> {
    let at = format!("/steps/{i}");
    let mut out: Vec<(&str, String)> = Vec::new();
    if let Some(next) = &step.next {
        out.push((next, format!("{at}/next")));
    }
    match &step.kind {
        StepKind::Branch {
            then, otherwise, ..
        } => {
            out.push((then, format!("{at}/branch/then")));
            out.push((otherwise, format!("{at}/branch/else")));
        }
        StepKind::Split { paths, otherwise } => {
            for (j, path) in paths.iter().enumerate() {
                out.push((&path.next, format!("{at}/split/paths/{j}/next")));
            }
            out.push((otherwise, format!("{at}/split/else")));
        }
        StepKind::Random { paths, .. } => {
            for (j, path) in paths.iter().enumerate() {
                out.push((&path.next, format!("{at}/random/paths/{j}/next")));
            }
        }
        StepKind::WaitUntil {
            on_timeout: Some(target),
            ..
        } => out.push((target, format!("{at}/wait_until/on_timeout"))),
        _ => {}
    }
    out
}

fn reachable_from_first(steps: &[Step], outgoing: &[Vec<&Edge>]) -> Parsed<()> {
    let mut seen = vec![false; steps.len()];
    let Some(first) = seen.first_mut() else {
        return Ok(());
    };
    *first = true;
    let mut queue = vec![0];
    while let Some(i) = queue.pop() {
        for edge in &outgoing[i] {
            if !seen[edge.to] {
                seen[edge.to] = true;
                queue.push(edge.to);
            }
        }
    }
    match seen.iter().position(|s| !s) {
        Some(i) => fail(
            &format!("/steps/{i}"),
            format!(
                "step '{}' is never reached from the first step",
                steps[i].id
            ),
        ),
        None => Ok(()),
    }
}

/// A depth-first search over the steps that do not wait: an edge back to a step on the
/// current path closes a loop that would never yield.
fn no_loop_without_wait(steps: &[Step], outgoing: &[Vec<&Edge>]) -> Parsed<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; steps.len()];
    for root in 0..steps.len() {
        if marks[root] != Mark::New || steps[root].kind.waits() {
            continue;
        }
        marks[root] = Mark::OnPath;
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            let Some(edge) = outgoing[node].get(*next_edge) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next_edge += 1;
            if steps[edge.to].kind.waits() {
                continue;
            }
            match marks[edge.to] {
                Mark::New => {
                    marks[edge.to] = Mark::OnPath;
                    path.push((edge.to, 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|(n, _)| *n == edge.to).unwrap_or(0);
                    let ids: Vec<&str> = path[start..]
                        .iter()
                        .map(|(n, _)| steps[*n].id.as_str())
                        .chain([steps[edge.to].id.as_str()])
                        .collect();
                    return fail(
                        &edge.pointer,
                        format!(
                            "the loop {} has no delay or wait in it: it would never stop",
                            ids.join(" → ")
                        ),
                    );
                }
                Mark::Done => {}
            }
        }
    }
    Ok(())
}
