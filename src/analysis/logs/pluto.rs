//! Libreswan (pluto) log lines: its own log file
//! (`Nov 30 02:08:09.667593: "vpn" #1: responding to Main Mode`), the syslog form
//! (`Nov 30 02:08:09 gw pluto[1234]: "vpn" #1: …`) and bare lines (`"vpn" #1: …`).
//!
//! pluto numbers its states (`#1` the IKE SA, `#2` a child), which serve as the tag of
//! the line; each known message becomes a [`Pl`] that [`Sa::pluto`] turns into a cause.
//! The wording is pluto 4.x's (see the README's coverage table).

use super::{
    capitalize, Mode, Sa, Tag, FIX_ID, FIX_MODE, FIX_NAT_T, FIX_NOT_RESPONDING,
    FIX_PROPOSAL_GENERIC_ESP, FIX_PROPOSAL_GENERIC_IKE, FIX_PSK, FIX_TS, FIX_VERSION,
};
use crate::findings::code::Code;

/// The message of a pluto line and its state tag, if the line is pluto's.
pub(super) fn split_pluto(raw: &str) -> Option<(Option<Tag<'_>>, &str)> {
    let rest = if let Some(p) = raw.find("pluto[") {
        let after = &raw[p..];
        &after[after.find("]: ")? + 3..]
    } else if raw.starts_with('"') {
        raw
    } else {
        // `Mmm dd hh:mm:ss.ffffff: ` (pluto's own log file)
        let (stamp, rest) = raw.split_once(": ")?;
        let time = stamp.rsplit(' ').next()?;
        let (hms, frac) = time.split_once('.')?;
        if hms.len() != 8 || hms.as_bytes()[2] != b':' || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        rest
    };
    let rest = rest.strip_prefix("ERROR: ").unwrap_or(rest);
    let Some(inner) = rest.strip_prefix('"') else {
        return Some((None, rest));
    };
    let (name, after) = inner.split_once('"')?;
    // `"vpn": msg`, `"vpn" #3: msg`, `"vpn"[1] 198.51.100.1 #3: msg`
    if let Some(msg) = after.strip_prefix(": ") {
        return Some((None, msg));
    }
    let (head, msg) = after.split_once(": ")?;
    let id = head.rsplit('#').next()?.trim().parse::<u32>().ok()?;
    Some((
        Some(Tag {
            name: Some(name),
            id,
        }),
        msg,
    ))
}

/// One recognized pluto message.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Pl {
    /// `initiating IKEv2 connection`, `sent Main Mode request`, `sent Aggressive Mode
    /// request`, `responding to Main Mode`, `sent IKE_SA_INIT reply`…
    Start { initiator: bool, mode: Option<Mode> },
    /// `probable authentication failure (mismatch of preshared secrets?)` (IKEv1),
    /// `authentication failed: computed hash does not match hash received from peer`
    /// (IKEv2)
    PskMismatch,
    /// `malformed payload in packet`, `…-byte length of ISAKMP Hash Payload is larger
    /// than can fit` (an IKEv1 message that does not decrypt)
    Garbled,
    /// `Peer ID 'X' mismatched on first found connection and no better connection found`
    PeerIdMismatch(String),
    /// `Oakley Transform [AES_CBC (256), HMAC_SHA2_256, MODP2048] refused`
    OakleyRefused(String),
    /// `no acceptable Oakley Transform`
    NoOakley,
    /// `no local proposal matches remote proposals 1:IKE:…` / `1:ESP:…`
    NoLocalProposal { esp: bool, remote: String },
    /// `no acceptable Proposal in IPsec SA` (IKEv1 Quick Mode responder)
    NoIpsecProposal,
    /// `No IKEv2 connection found with compatible Traffic Selectors`, `cannot respond to
    /// IPsec SA request because no connection is known for …`
    NoTsConnection(String),
    /// The peer refused: `IKE SA authentication request rejected by peer: X`,
    /// `IKE_AUTH response rejected Child SA with X`, `received and ignored notification
    /// payload: X`, `dropping unexpected IKE_SA_INIT message containing X notification`.
    Refused { notify: String, child: bool },
    /// `deleting state (STATE_V2_PARENT_R1) aged …`: a negotiation this end answered
    /// and that went no further.
    DeletingState(String),
    /// `STATE_MAIN_I1: retransmission; will wait 1 seconds for response`
    Retransmission(String),
    /// `STATE_MAIN_I1: 10 second timeout exceeded after 4 retransmits.  …`
    Timeout(String),
    /// `IKE SA established {…}`, `responder established IKE SA; …`: the peer's
    /// identity where the line names it (`peer '198.51.100.1'`).
    Established(String),
    /// IKEv2 liveness / IKEv1 DPD declared the peer dead.
    PeerDead,
    /// `packet from 198.51.100.1:500: …`: a message about a packet from the peer that
    /// belongs to no state yet.
    FromPeer(String, Box<Pl>),
    /// `"vpn": added IKEv1 connection` (the IKE version of a loaded connection).
    ConnAdded(u8),
    /// `initial Main Mode message received but no connection has been authorized with
    /// authby=PSK and xauth=no` (`mode`: the mode the peer started in): no connection
    /// here accepts that mode with that authentication, and no answer is sent.
    NoConnForMode(Mode),
    /// The peer's IKE version is refused: `ignoring IKEv1 packet as policy is set to
    /// silently drop all IKEv1 packets` (`peer_version` 1), `ISAKMP_v2_IKE_SA_INIT message
    /// received on … but no suitable connection found with IKEv2 policy` (2).
    VersionRefused { peer_version: u8, silent: bool },
    /// `responding to IKE_SA_INIT (34) message (Message ID 0) with unencrypted
    /// notification NO_PROPOSAL_CHOSEN`, `sending notification X to …`: what this end
    /// answered.
    Answered(String),
}

pub(super) fn recognize_pluto(body: &str) -> Option<Pl> {
    let b = body.trim();
    if let Some(rest) = b.strip_prefix("packet from ") {
        let (from, msg) = rest.split_once(": ")?;
        let addr = from.rsplit_once(':').map_or(from, |(a, _)| a);
        return Some(Pl::FromPeer(
            addr.to_string(),
            Box::new(recognize_pluto(msg)?),
        ));
    }
    if let Some(v) = b
        .strip_prefix("added IKEv")
        .and_then(|r| r.strip_suffix(" connection"))
        .and_then(|v| v.parse().ok())
    {
        return Some(Pl::ConnAdded(v));
    }
    for (prefix, mode) in [
        ("initial Main Mode message", Mode::Main),
        ("initial Aggressive Mode message", Mode::Aggressive),
    ] {
        if b.starts_with(prefix) && b.contains("no connection has been authorized") {
            return Some(Pl::NoConnForMode(mode));
        }
    }
    if b.starts_with("ignoring IKEv1 packet as policy is set to silently drop all IKEv1") {
        return Some(Pl::VersionRefused {
            peer_version: 1,
            silent: true,
        });
    }
    if b.contains(" message received on ")
        && b.ends_with("no suitable connection found with IKEv2 policy")
    {
        return Some(Pl::VersionRefused {
            peer_version: 2,
            silent: false,
        });
    }
    if b.starts_with("responding to ") && b.contains(" notification ") {
        let n = b.rsplit(' ').next()?;
        return Some(Pl::Answered(n.to_string()));
    }
    if let Some(rest) = b.strip_prefix("sending notification ") {
        return Some(Pl::Answered(rest.split(' ').next()?.to_string()));
    }
    let start = |initiator, mode| Some(Pl::Start { initiator, mode });
    match b {
        "initiating IKEv2 connection" => return start(true, None),
        "sent Main Mode request" => return start(true, Some(Mode::Main)),
        "sent Aggressive Mode request" => return start(true, Some(Mode::Aggressive)),
        "responding to Main Mode" => return start(false, Some(Mode::Main)),
        "responding to Aggressive Mode" => return start(false, Some(Mode::Aggressive)),
        "no acceptable Oakley Transform" => return Some(Pl::NoOakley),
        "no acceptable Proposal in IPsec SA" => return Some(Pl::NoIpsecProposal),
        "malformed payload in packet" => return Some(Pl::Garbled),
        "No IKEv2 connection found with compatible Traffic Selectors" => {
            return Some(Pl::NoTsConnection(String::new()))
        }
        _ => {}
    }
    if b.starts_with("sent IKE_SA_INIT reply") {
        return start(false, None);
    }
    if b.starts_with("probable authentication failure (mismatch of preshared secrets?)")
        || b.starts_with("authentication failed: computed hash does not match")
    {
        return Some(Pl::PskMismatch);
    }
    if b.contains("-byte length of ISAKMP") && b.ends_with("is larger than can fit") {
        return Some(Pl::Garbled);
    }
    if let Some(rest) = b.strip_prefix("Peer ID '") {
        if let Some((id, tail)) = rest.split_once('\'') {
            if tail.contains("mismatched") {
                return Some(Pl::PeerIdMismatch(id.to_string()));
            }
        }
    }
    if let Some(rest) = b.strip_prefix("Oakley Transform [") {
        if let Some(t) = rest.strip_suffix("] refused") {
            return Some(Pl::OakleyRefused(t.to_string()));
        }
    }
    if let Some(rest) = b.strip_prefix("no local proposal matches remote proposals ") {
        return Some(Pl::NoLocalProposal {
            esp: rest.contains(":ESP:") || rest.contains(":AH:"),
            remote: rest.to_string(),
        });
    }
    if let Some(rest) =
        b.strip_prefix("cannot respond to IPsec SA request because no connection is known for ")
    {
        return Some(Pl::NoTsConnection(rest.to_string()));
    }
    for (prefix, child) in [
        ("IKE SA authentication request rejected by peer: ", false),
        ("IKE_AUTH response rejected Child SA with ", true),
        ("received and ignored notification payload: ", false),
        ("CREATE_CHILD_SA failed with error notification ", true),
        ("dropping unexpected IKE_SA_INIT message containing ", false),
    ] {
        if let Some(n) = b.strip_prefix(prefix) {
            return Some(Pl::Refused {
                notify: n.split_whitespace().next()?.to_string(),
                child,
            });
        }
    }
    if let Some(rest) = b.strip_prefix("deleting state (") {
        return Some(Pl::DeletingState(rest.split(')').next()?.to_string()));
    }
    if let Some((state, tail)) = b.split_once(": ") {
        if state.starts_with("STATE_") {
            if tail.starts_with("retransmission;") {
                return Some(Pl::Retransmission(state.to_string()));
            }
            if tail.contains("timeout exceeded after") {
                return Some(Pl::Timeout(state.to_string()));
            }
        }
    }
    if b.starts_with("IKE SA established {")
        || b.starts_with("responder established IKE SA;")
        || b.starts_with("initiator established IKE SA;")
    {
        let peer = b
            .split_once("authenticated peer using ")
            .and_then(|(_, r)| r.split('\'').nth(1))
            .map(|id| format!("peer '{id}'"))
            .unwrap_or_default();
        return Some(Pl::Established(peer));
    }
    if b.contains("DPD: declaring peer dead")
        || (b.starts_with("liveness") && b.contains("not responding"))
        || b.contains("has not responded in")
    {
        return Some(Pl::PeerDead);
    }
    None
}

/// `STATE_MAIN_I3` → the message the retransmitting end waits for an answer to.
fn waits_after_4500(state: &str) -> bool {
    matches!(
        state,
        "STATE_MAIN_I3" | "STATE_MAIN_R2" | "STATE_V2_PARENT_I2" | "STATE_AGGR_R1"
    )
}

impl Sa<'_> {
    /// One pluto message. Causes read from this end's own comparison decide; refusals
    /// and silence are weak (see `Hit::weak`).
    pub(super) fn pluto(&mut self, no: usize, pl: Pl) {
        let peer = self.peer();
        match pl {
            Pl::Start { initiator, mode } => {
                self.start_line.get_or_insert(no);
                if mode.is_some() {
                    self.v1 = true;
                    self.mode = mode;
                } else {
                    self.v2 = true;
                }
                if !initiator {
                    self.heard = true;
                    self.responded = true;
                }
            }
            Pl::PskMismatch => {
                let msg = format!(
                    "IKE phase 1{} with {peer} fails in authentication: Libreswan cannot verify the peer's authentication with the pre-shared key configured here ('mismatch of preshared secrets' / 'computed hash does not match'). The two ends use different pre-shared keys.",
                    self.version_paren()
                );
                self.pluto_hit(Code::IkePskMismatch, no, msg, FIX_PSK, false);
            }
            Pl::Garbled => {
                // After another cause (an identity refused) the garbage is its echo.
                if let Some(i) = self.last_hit {
                    self.hits[i].lines.insert(no);
                    return;
                }
                let msg = format!(
                    "IKE phase 1 (IKEv1) with {peer} fails: the peer's first encrypted message does not decrypt into a valid payload here ('malformed payload in packet'). IKEv1 derives the encryption keys from the pre-shared key, so the two ends use different pre-shared keys."
                );
                self.pluto_hit(Code::IkePskMismatch, no, msg, FIX_PSK, true);
            }
            Pl::PeerIdMismatch(id) => {
                let msg = format!(
                    "IKE phase 1{} with {peer} fails on identities: the peer identified itself as '{id}', which matches no connection's RemoteId here ('Peer ID … mismatched'). The LocalId/RemoteId of the two ends do not match.",
                    self.version_paren()
                );
                self.pluto_hit(Code::IkeIdMismatch, no, msg, FIX_ID, false);
            }
            Pl::OakleyRefused(t) => {
                let msg = format!(
                    "IKE phase 1 (IKEv1) with {peer} fails on the proposal: Libreswan refused the peer's phase-1 transform [{t}] ('no acceptable Oakley Transform'): the encryption, integrity or DH group differ from this end's ike= setting."
                );
                self.pluto_hit(
                    Code::IkeProposalMismatch,
                    no,
                    msg,
                    FIX_PROPOSAL_GENERIC_IKE,
                    false,
                );
            }
            Pl::NoOakley => self.support(no, &[Code::IkeProposalMismatch]),
            Pl::NoLocalProposal { esp, remote } => {
                let (code, what, fix) = if esp {
                    (
                        Code::IpsecProposalMismatch,
                        "phase-2 (ESP)",
                        FIX_PROPOSAL_GENERIC_ESP,
                    )
                } else {
                    (
                        Code::IkeProposalMismatch,
                        "phase-1 (IKE)",
                        FIX_PROPOSAL_GENERIC_IKE,
                    )
                };
                let msg = format!(
                    "{} with {peer} fails on the {what} proposal: none of this end's proposals matches the peer's {remote} ('no local proposal matches remote proposals').",
                    if esp { "Phase 2" } else { "IKE phase 1 (IKEv2)" }
                );
                self.pluto_hit(code, no, msg, fix, false);
            }
            Pl::NoIpsecProposal => {
                let msg = format!(
                    "Phase 2 (IKEv1 Quick Mode) with {peer} fails: Libreswan accepts none of the peer's IPsec SA proposals ('no acceptable Proposal in IPsec SA'): the phase-2 encryption, integrity or PFS group differ from this end's esp=/pfs= settings."
                );
                self.pluto_hit(
                    Code::IpsecProposalMismatch,
                    no,
                    msg,
                    FIX_PROPOSAL_GENERIC_ESP,
                    false,
                );
            }
            Pl::NoTsConnection(ts) => {
                let ts = if ts.is_empty() {
                    String::new()
                } else {
                    format!(" ({ts})")
                };
                let msg = format!(
                    "Phase 2 with {peer} fails on subnets: no connection here accepts the traffic selectors the peer proposed{ts}. The local/remote subnets of the two ends do not mirror each other."
                );
                self.pluto_hit(Code::TrafficSelectorMismatch, no, msg, FIX_TS, false);
            }
            Pl::Refused { notify, child } => self.pluto_refused(no, &notify, child),
            Pl::DeletingState(state) => {
                if matches!(
                    state.as_str(),
                    "STATE_V2_PARENT_R1" | "STATE_MAIN_R2" | "STATE_AGGR_R1"
                ) {
                    self.half_open = Some(no);
                    self.pluto_state.get_or_insert(state);
                }
            }
            Pl::Retransmission(state) => {
                self.retransmits.push((no, 0));
                self.pluto_state = Some(state);
            }
            Pl::Timeout(state) => {
                self.giveups.push(no);
                self.pluto_state = Some(state);
            }
            Pl::Established(_) => self.established = Some(no),
            Pl::PeerDead => self.dpd_timed_out = Some(no),
            Pl::FromPeer(from, inner) => {
                self.heard = true;
                self.peer.get_or_insert(from);
                self.pluto(no, *inner);
            }
            Pl::ConnAdded(v) => self.pluto_versions.push(v),
            Pl::NoConnForMode(mode) => self.no_conn_for_mode(no, mode),
            Pl::VersionRefused {
                peer_version,
                silent,
            } => self.version_refused(no, peer_version, silent),
            Pl::Answered(n) => {
                let codes: &[Code] = match n.as_str() {
                    "NO_PROPOSAL_CHOSEN" => &[
                        Code::IkeVersionMismatch,
                        Code::IkeProposalMismatch,
                        Code::IpsecProposalMismatch,
                    ],
                    "INVALID_ID_INFORMATION" => {
                        &[Code::IkeIdMismatch, Code::TrafficSelectorMismatch]
                    }
                    "AUTHENTICATION_FAILED" => &[Code::IkePskMismatch, Code::IkeIdMismatch],
                    "TS_UNACCEPTABLE" => &[Code::TrafficSelectorMismatch],
                    _ => &[],
                };
                self.support(no, codes);
            }
        }
    }

    /// The peer's IKE version is refused here (silently, or with NO_PROPOSAL_CHOSEN).
    fn version_refused(&mut self, no: usize, peer_version: u8, silent: bool) {
        let peer = self.peer();
        let other = if peer_version == 1 { 2 } else { 1 };
        let (what, answer) = if silent {
            (
                "Libreswan drops every IKEv1 packet ('ignoring IKEv1 packet as policy is set to silently drop all IKEv1 packets': ikev1-policy=drop, the Debian 12 default)",
                "without an answer, so the peer only sees silence",
            )
        } else {
            (
                "Libreswan has no IKEv2 connection for it ('no suitable connection found with IKEv2 policy')",
                "with NO_PROPOSAL_CHOSEN",
            )
        };
        let loaded = if self.pluto_versions.contains(&other)
            && !self.pluto_versions.contains(&peer_version)
        {
            format!(" Its loaded connections are IKEv{other} only.")
        } else if !silent {
            format!(" If this gateway does have IKEv{peer_version} connections, none of them has the peer's address (right=): its ipsec.conf settles it.")
        } else {
            String::new()
        };
        let msg = format!(
            "IKE phase 1 with {peer} fails on the IKE version: the peer starts IKEv{peer_version}, but {what}; it refused {answer}.{loaded} The two ends use different IKE versions."
        );
        self.pluto_hit(Code::IkeVersionMismatch, no, msg, FIX_VERSION, false);
    }

    /// The peer started IKEv1 in a mode no connection here accepts with its
    /// authentication (pluto drops it without an answer). With pre-shared keys on both
    /// ends the likeliest cause is the other mode configured here; the configuration
    /// settles it.
    fn no_conn_for_mode(&mut self, no: usize, mode: Mode) {
        let (theirs, ours, setting) = match mode {
            Mode::Main => ("Main Mode", "Aggressive Mode", "aggressive=yes"),
            Mode::Aggressive => ("Aggressive Mode", "Main Mode", "aggressive=no"),
        };
        let loaded = if self.pluto_versions.contains(&1) {
            " although an IKEv1 connection is loaded"
        } else {
            ""
        };
        let msg = format!(
            "{} starts IKEv1 phase 1 in {theirs} with a pre-shared key, but no connection here accepts {theirs} with that authentication ('initial {theirs} message received but no connection has been authorized'){loaded}, so Libreswan dropped it without an answer (the peer only sees silence). The likeliest cause is that the connection here negotiates in {ours}: its ipsec.conf settles it ({setting} means a mode mismatch; otherwise its authby= differs from the peer's, or no connection has the peer's address as right=).",
            capitalize(&self.peer())
        );
        self.pluto_hit(Code::IkeModeMismatch, no, msg, FIX_MODE, false);
    }

    fn pluto_hit(&mut self, code: Code, no: usize, msg: String, fix: &str, weak: bool) {
        let mut lines = vec![no];
        lines.extend(self.start_line);
        self.weak = weak;
        self.hit(code, &lines, msg, fix);
        self.weak = false;
    }

    /// The peer refused this end's message with notification `n`.
    fn pluto_refused(&mut self, no: usize, n: &str, child: bool) {
        let peer = self.peer();
        let phase2 = child || self.established.is_some();
        let (code, msg, fix) = match n {
            "AUTHENTICATION_FAILED" if self.mode == Some(Mode::Aggressive) => (
                Code::IkeModeMismatch,
                format!("IKE phase 1 fails: this end starts IKEv1 in Aggressive Mode and {peer} refused it with AUTHENTICATION_FAILED before any reply: the peer most likely does not accept Aggressive Mode (its log settles it: a mode refusal, or an identity/key mismatch)."),
                FIX_MODE,
            ),
            "AUTHENTICATION_FAILED" => (
                Code::IkePskMismatch,
                format!("IKE phase 1{} fails: {peer} rejected this end's authentication with AUTHENTICATION_FAILED. With pre-shared keys the keys most likely differ; the peer's log settles it ('MAC mismatched' = key, 'no matching peer config' = LocalId/RemoteId).", self.version_paren()),
                FIX_PSK,
            ),
            "NO_PROPOSAL_CHOSEN" if phase2 => (
                Code::IpsecProposalMismatch,
                format!("Phase 1 is up, but {peer} refused this end's phase-2 proposal with NO_PROPOSAL_CHOSEN: the phase-2 encryption, integrity or PFS group differ. The peer's log ('received proposals' vs 'configured proposals') names the transform."),
                FIX_PROPOSAL_GENERIC_ESP,
            ),
            "NO_PROPOSAL_CHOSEN" => (
                Code::IkeProposalMismatch,
                format!("IKE phase 1{} fails: {peer} refused this end's first message with NO_PROPOSAL_CHOSEN: the phase-1 encryption, integrity or DH group differ, or the peer runs the other IKE version. The peer's log settles it ('no IKE config found' = version, 'received proposals' vs 'configured proposals' = algorithms).", self.version_paren()),
                FIX_PROPOSAL_GENERIC_IKE,
            ),
            "TS_UNACCEPTABLE" | "INVALID_ID_INFORMATION" if phase2 || n == "TS_UNACCEPTABLE" => (
                Code::TrafficSelectorMismatch,
                format!("Phase 1 is up, but {peer} refused this end's traffic selectors with {n}: the local/remote subnets of the two ends do not mirror each other. The peer's log names the subnets it expects."),
                FIX_TS,
            ),
            "INVALID_ID_INFORMATION" => (
                Code::IkeIdMismatch,
                format!("IKE phase 1 (IKEv1) fails on identities: {peer} answered INVALID_ID_INFORMATION to this end's identity. The LocalId/RemoteId do not match."),
                FIX_ID,
            ),
            _ => return,
        };
        self.pluto_hit(code, no, msg, fix, true);
    }

    /// pluto gave up retransmitting: silence after the switch to UDP 4500, or no answer
    /// at all. Runs at the end of the state, when no other cause was found.
    pub(super) fn pluto_silence(&mut self) {
        if self.established.is_some() || !self.hits.is_empty() {
            return;
        }
        let Some(state) = self.pluto_state.clone() else {
            return;
        };
        let mut lines: Vec<usize> = self.retransmits.iter().map(|x| x.0).collect();
        lines.extend(&self.giveups);
        lines.extend(self.half_open);
        lines.extend(self.start_line);
        let peer = self.peer();
        if waits_after_4500(&state) || (self.responded && self.half_open.is_some()) {
            let msg = format!(
                "IKE phase 1{} with {peer} stalls after the switch to UDP 4500 (NAT-T): the first messages over UDP 500 were answered, then pluto retransmitted in {state} without an answer{}. UDP 4500 is most likely blocked on the path; the peer's log settles it (a half-open negotiation there confirms it, an authentication error there means the keys or identities differ).",
                self.version_paren(),
                if self.giveups.is_empty() { "" } else { " and gave up" }
            );
            self.weak = true;
            self.hit(Code::NatTBlocked, &lines, msg, FIX_NAT_T);
            self.weak = false;
        } else if !self.giveups.is_empty()
            && !self.responded
            && matches!(
                state.as_str(),
                "STATE_MAIN_I1" | "STATE_AGGR_I1" | "STATE_V2_PARENT_I1"
            )
        {
            let msg = format!(
                "IKE phase 1{} fails: {peer} never answered pluto's first message ({state}: 'timeout exceeded after … retransmits'). The peer is down, does not run IKE for this address, the address dialed is wrong, or UDP 500 is blocked on the path.",
                self.version_paren()
            );
            self.weak = true;
            self.hit(Code::PeerNotResponding, &lines, msg, FIX_NOT_RESPONDING);
            self.weak = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::logs::classify;

    fn codes(text: &str) -> Vec<Code> {
        classify(&[("idc.log".to_string(), text.to_string())])
            .findings
            .iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn packet_from_lines_carry_the_peer_and_the_message() {
        assert_eq!(
            recognize_pluto("packet from 198.51.100.1:500: ignoring IKEv1 packet as policy is set to silently drop all IKEv1 packets"),
            Some(Pl::FromPeer(
                "198.51.100.1".into(),
                Box::new(Pl::VersionRefused {
                    peer_version: 1,
                    silent: true
                })
            ))
        );
        assert_eq!(
            recognize_pluto("added IKEv2 connection"),
            Some(Pl::ConnAdded(2))
        );
        assert_eq!(
            recognize_pluto("packet from 198.51.100.1:500: responding to IKE_SA_INIT (34) message (Message ID 0) with unencrypted notification NO_PROPOSAL_CHOSEN"),
            Some(Pl::FromPeer(
                "198.51.100.1".into(),
                Box::new(Pl::Answered("NO_PROPOSAL_CHOSEN".into()))
            ))
        );
        // A packet line pluto logs about something else is not a cause.
        assert_eq!(
            recognize_pluto("packet from 198.51.100.1:4500: INFORMATIONAL request has no corresponding IKE SA; message dropped"),
            None
        );
    }

    /// The silent refusals of the lab runs ls_version_* and ls_mode_ikev1main_cloud, as
    /// pluto logs them (own log file and syslog form).
    #[test]
    fn silent_refusals_of_another_version_or_mode() {
        let v1_dropped = "Nov 30 02:08:38.432459: \"vpn\": added IKEv2 connection\nNov 30 02:08:38.738139: packet from 198.51.100.1:500: ignoring IKEv1 packet as policy is set to silently drop all IKEv1 packets\n";
        assert_eq!(codes(v1_dropped), vec![Code::IkeVersionMismatch]);
        let v2_refused = "Nov 30 02:08:34 idc pluto[2545]: \"vpn\": added IKEv1 connection\nNov 30 02:08:34 idc pluto[2545]: packet from 198.51.100.1:500: ISAKMP_v2_IKE_SA_INIT message received on 198.51.100.2:500 but no suitable connection found with IKEv2 policy\nNov 30 02:08:34 idc pluto[2545]: packet from 198.51.100.1:500: responding to IKE_SA_INIT (34) message (Message ID 0) with unencrypted notification NO_PROPOSAL_CHOSEN\n";
        let r = classify(&[("idc.syslog".to_string(), v2_refused.to_string())]);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].code, Code::IkeVersionMismatch);
        assert_eq!(r.findings[0].lines, vec![2, 3]);
        assert!(r.findings[0].message.contains("IKEv1 only"));
        let main_ignored = "Nov 30 02:08:46.695427: \"vpn\": added IKEv1 connection\nNov 30 02:08:47.032639: packet from 198.51.100.1:500: initial Main Mode message received but no connection has been authorized with authby=PSK and xauth=no\n";
        let r = classify(&[("idc.log".to_string(), main_ignored.to_string())]);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].code, Code::IkeModeMismatch);
        assert!(r.findings[0]
            .message
            .contains("The peer 198.51.100.1 starts IKEv1 phase 1 in Main Mode"));
        assert!(r.findings[0].message.contains("aggressive=yes"));
    }
}
