//! `lightstreams fans ...`: the encrypted fan channel between creators and buyers.

use anyhow::anyhow;
use lightstreams_market::fans::{Fans, Kind, Received};
use serde_json::json;

use super::market::read_offer;
use super::vault::{client, parse_item};
use crate::args::FansCommand;

fn show(posts: &[Received]) -> String {
    if posts.is_empty() {
        return "no messages".into();
    }
    posts
        .iter()
        .map(|p| {
            let arrow = match p.kind {
                Kind::Message => "message",
                Kind::Reply => "reply",
            };
            let offer = p
                .post
                .offer
                .as_ref()
                .map(|o| {
                    format!(
                        "\n    offer: {}% off, until {}",
                        f64::from(o.discount_bps) / 100.0,
                        super::when(o.expiry)
                    )
                })
                .unwrap_or_default();
            format!(
                "{} {} #{} from {} at {}:\n    {}{offer}",
                p.item,
                arrow,
                p.n,
                p.post.from,
                super::when(p.post.sent),
                p.post
                    .text
                    .split('\n')
                    .map(super::shown)
                    .collect::<Vec<_>>()
                    .join("\n    ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn run(command: FansCommand, json: bool) -> anyhow::Result<()> {
    match command {
        FansCommand::Send {
            id,
            text,
            offer,
            who,
        } => {
            let item = parse_item(&id)?;
            let offer = offer.as_deref().map(read_offer).transpose()?;
            let client = client(&who)?;
            let n = Fans::new(&client)
                .send(item, &text, offer)
                .map_err(|e| anyhow!("{e}"))?;
            super::print(
                json,
                &json!({"item": item.to_string(), "message": n}),
                || format!("message #{n} sent to the readers of {item}"),
            );
        }
        FansCommand::Reply { id, text, who } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            let n = Fans::new(&client)
                .reply(item, &text)
                .map_err(|e| anyhow!("{e}"))?;
            super::print(json, &json!({"item": item.to_string(), "reply": n}), || {
                format!("reply #{n} sent to the creator of {item}")
            });
        }
        FansCommand::Inbox { item, who } => {
            let only = item.as_deref().map(parse_item).transpose()?;
            let client = client(&who)?;
            let posts = Fans::new(&client).inbox(only).map_err(|e| anyhow!("{e}"))?;
            super::print(json, &serde_json::to_value(&posts)?, || show(&posts));
        }
    }
    Ok(())
}
