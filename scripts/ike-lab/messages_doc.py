#!/usr/bin/env python3
"""Render docs/ike-failure-messages.md: the IKE failure log messages of strongSwan
5.9.8 and Libreswan 4.10 (wording read from their sources), each marked with the
stored lab runs (tests/data/ike-lab) whose logs contain it.

    scripts/ike-lab/messages_doc.py [--check]

Rows: (format as logged, source file, side, cause code(s), regex matching the
logged line, note). Sides: I = initiator / requester, R = responder, both.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(REPO, "tests", "data", "ike-lab")
DOC = os.path.join(REPO, "docs", "ike-failure-messages.md")

# strongSwan 5.9.8: paths under src/libcharon/ unless they start with src/
SS = [
    ("IKEv1 Main / Aggressive Mode (phase 1)", [
        ("invalid %N payload length, decryption failed?", "encoding/payloads/encrypted_payload.c", "both",
         "IKE_PSK_MISMATCH; IKE_ID_MISMATCH with a Libreswan peer (its encrypted INVALID_ID_INFORMATION notify does not decrypt)", r"invalid \S+ payload length, decryption failed\?",
         "Main Mode: %N is HASH_V1 (the initiator decrypting MM6) or ID_V1 (the responder decrypting MM5); keys derived from different PSKs"),
        ("could not decrypt payloads", "encoding/message.c", "both", "IKE_PSK_MISMATCH; IKE_ID_MISMATCH with a Libreswan peer (as above)",
         r"could not decrypt payloads", "follows the line above"),
        ("message parsing failed", "sa/ikev1/task_manager_v1.c", "both", "IKE_PSK_MISMATCH",
         r"\] (<[^>]*> )?message parsing failed", "IKEv1 task manager after a decrypt/parse error"),
        ("%N %s with message ID %u processing failed", "sa/ikev1/task_manager_v1.c", "both", "IKE_PSK_MISMATCH",
         r"(ID_PROT|AGGRESSIVE|INFORMATIONAL_V1|QUICK_MODE) (request|response) with message ID \S+ processing failed",
         "e.g. `ID_PROT request with message ID 0 processing failed`"),
        ("ignore malformed INFORMATIONAL request", "sa/ikev1/task_manager_v1.c", "both", "IKE_PSK_MISMATCH",
         r"ignore malformed INFORMATIONAL request", "an encrypted notify the receiver cannot decrypt"),
        ("calculated HASH does not match HASH payload", "sa/ikev1/authenticators/psk_v1_authenticator.c",
         "the verifying side (Aggressive: initiator checks HASH_R, responder HASH_I)", "IKE_PSK_MISMATCH",
         r"calculated HASH does not match HASH payload", "Aggressive Mode PSK mismatch (nothing is encrypted yet)"),
        ("no shared key found for '%Y'[%H] - '%Y'[%H]", "sa/ikev1/phase1.c", "both", "IKE_PSK_MISMATCH, IKE_ID_MISMATCH",
         r"no shared key found for '", "no PSK for this id pair (secrets bound to other ids)"),
        ("no shared key found for %H - %H", "sa/ikev1/phase1.c", "R (Main Mode)", "IKE_PSK_MISMATCH",
         r"no shared key found for \d", "Main Mode responder picks the PSK by address"),
        ("IDir '%Y' does not match to '%Y'", "sa/ikev1/tasks/main_mode.c, sa/ikev1/tasks/aggressive_mode.c", "I",
         "IKE_ID_MISMATCH", r"IDir '.*' does not match to '",
         "value or type differs; a type-only difference prints the same text twice (FQDN vs IPV4_ADDR)"),
        ("no peer config found", "sa/ikev1/phase1.c", "R", "IKE_ID_MISMATCH", r"\] (<[^>]*> )?no peer config found",
         "then sends AUTHENTICATION_FAILED (INFORMATIONAL_V1)"),
        ("found %d matching config%s, but none allows %N authentication using %s Mode", "sa/ikev1/phase1.c", "R",
         "IKE_MODE_MISMATCH", r"but none allows .* authentication using \S+ Mode",
         "e.g. `found 1 matching config, but none allows pre-shared key authentication using Aggressive Mode`; then AUTHENTICATION_FAILED"),
        ("Aggressive Mode PSK disabled for security reasons", "sa/ikev1/tasks/aggressive_mode.c", "R",
         "IKE_MODE_MISMATCH", r"Aggressive Mode PSK disabled",
         "only without charon.i_dont_care_about_security_and_use_aggressive_mode_psk"),
        ("no proposal found", "sa/ikev1/tasks/main_mode.c, sa/ikev1/tasks/aggressive_mode.c", "R (and I on a bad reply)",
         "IKE_PROPOSAL_MISMATCH", r"\] (<[^>]*> )?no proposal found",
         "encryption, hash/integrity or DH group differ; `received proposals:` / `configured proposals:` above it (cfg level 2) show which"),
        ("received %N error notify", "sa/ikev1/tasks/main_mode.c, aggressive_mode.c, quick_mode.c, informational.c", "I (the peer of the failing side)",
         "by notify: NO_PROPOSAL_CHOSEN = IKE_PROPOSAL_MISMATCH (phase 1) / IPSEC_PROPOSAL_MISMATCH or PFS_MISMATCH (Quick Mode) / IKE_VERSION_MISMATCH; AUTHENTICATION_FAILED = IKE_PSK_MISMATCH, IKE_ID_MISMATCH, IKE_MODE_MISMATCH; INVALID_ID_INFORMATION = TRAFFIC_SELECTOR_MISMATCH",
         r"received \S+ error notify", "IKEv1 wording (IKEv2 says `notify error`)"),
        ("ignoring unprotected INFORMATIONAL from %H", "encoding/message.c", "both", "IKE_PSK_MISMATCH, IKE_ID_MISMATCH",
         r"ignoring unprotected INFORMATIONAL", "an unencrypted error notify after keys exist"),
        ("received HASH payload does not match", "encoding/message.c", "both", "IKE_PSK_MISMATCH",
         r"received HASH payload does not match", "HASH of an encrypted IKEv1 message wrong (FAQ 2 lists it for Aggressive Mode)"),
        ("integrity check failed", "sa/ikev1/task_manager_v1.c", "both", "IKE_PSK_MISMATCH",
         r"\] (<[^>]*> )?integrity check failed", ""),
    ]),
    ("IKEv1 Quick Mode (phase 2)", [
        ("no matching proposal found, sending %N", "sa/ikev1/tasks/quick_mode.c", "R",
         "IPSEC_PROPOSAL_MISMATCH, PFS_MISMATCH", r"no matching proposal found, sending",
         "ESP encryption/integrity differ, or PFS on one side only / other group"),
        ("no matching proposal found", "sa/ikev1/tasks/quick_mode.c", "I", "IPSEC_PROPOSAL_MISMATCH, PFS_MISMATCH",
         r"no matching proposal found$", "the responder's choice is not in our proposal"),
        ("no matching CHILD_SA config found for %#R === %#R", "sa/ikev1/tasks/quick_mode.c", "R",
         "TRAFFIC_SELECTOR_MISMATCH", r"no matching CHILD_SA config found for", "then sends INVALID_ID_INFORMATION"),
        ("unable to install IPsec policies (SPD) in kernel", "sa/ikev1/tasks/quick_mode.c", "both", "-",
         r"unable to install IPsec policies", "local kernel problem, not a peer mismatch"),
    ]),
    ("IKEv2 IKE_SA_INIT / IKE_AUTH", [
        ("received proposals unacceptable", "sa/ikev2/tasks/ike_init.c", "R", "IKE_PROPOSAL_MISMATCH",
         r"received proposals unacceptable",
         "encryption, integrity, PRF or DH group; compare the `received proposals:` / `configured proposals:` lines just above"),
        ("no acceptable proposal found", "sa/ikev2/tasks/ike_init.c", "R", "IKE_PROPOSAL_MISMATCH",
         None, "the selected proposal has no usable DH group (rare); the usual IKE_SA_INIT line is `received proposals unacceptable`; the CHILD_SA variant is below"),
        ("received %N notify error", "sa/ikev2/tasks/ike_init.c, sa/ikev2/tasks/ike_auth.c", "I",
         "NO_PROPOSAL_CHOSEN in IKE_SA_INIT = IKE_PROPOSAL_MISMATCH or IKE_VERSION_MISMATCH; AUTHENTICATION_FAILED = IKE_PSK_MISMATCH or IKE_ID_MISMATCH",
         r"received \S+ notify error$", "IKEv2 wording"),
        ("received %N notify error, destroying IKE_SA", "sa/ikev2/task_manager_v2.c", "I", "by notify",
         r"notify error, destroying IKE_SA", ""),
        ("DH group %N unacceptable, requesting %N", "sa/ikev2/tasks/ike_init.c", "R", "- (recovers)",
         r"DH group \S+ unacceptable, requesting", "KE guessed wrong but a common group exists: INVALID_KE_PAYLOAD, the initiator retries"),
        ("peer didn't accept DH group %N, it requested %N", "sa/ikev2/tasks/ike_init.c", "I", "- (recovers)",
         r"peer didn't accept DH group", ""),
        ("no IKE config found for %H...%H, sending %N", "sa/ikev2/task_manager_v2.c, sa/ikev1/task_manager_v1.c", "R",
         "IKE_VERSION_MISMATCH", r"no IKE config found for",
         "no config for this address pair and this IKE version; sends NO_PROPOSAL_CHOSEN"),
        ("received unsupported IKE version %d.%d from %H, sending INVALID_MAJOR_VERSION", "network/receiver.c", "R",
         "IKE_VERSION_MISMATCH", r"received unsupported IKE version", "daemon built without that version"),
        ("tried %d shared key%s for '%Y' - '%Y', but MAC mismatched", "sa/ikev2/authenticators/psk_authenticator.c",
         "R (I when the responder's AUTH is wrong)", "IKE_PSK_MISMATCH", r"but MAC mismatched",
         "then AUTHENTICATION_FAILED to the initiator"),
        ("no shared key found for '%Y' - '%Y'", "sa/ikev2/authenticators/psk_authenticator.c", "both",
         "IKE_PSK_MISMATCH, IKE_ID_MISMATCH", r"no shared key found for '[^']*' - '", ""),
        ("looking for peer configs matching %H[%Y]...%H[%Y]", "sa/ikev2/tasks/ike_auth.c", "R", "context",
         r"looking for peer configs matching", "shows the IDs the initiator sent"),
        ("no matching peer config found", "sa/ikev2/tasks/ike_auth.c", "R", "IKE_ID_MISMATCH",
         r"no matching peer config found", "IDi (or IDr) value or type fits no config; answers AUTHENTICATION_FAILED"),
        ("selected peer config '%s' unacceptable: %s", "sa/ikev2/tasks/ike_auth.c", "R", "IKE_ID_MISMATCH",
         r"selected peer config '.*' unacceptable", "constraint (auth class, CA, ...) not met"),
        ("IDr payload missing", "sa/ikev2/tasks/ike_auth.c", "I", "-", r"IDr payload missing", ""),
    ]),
    ("IKEv2 CHILD_SA (IKE_AUTH / CREATE_CHILD_SA)", [
        ("no acceptable proposal found", "sa/ikev2/tasks/child_create.c", "R",
         "IPSEC_PROPOSAL_MISMATCH (first CHILD_SA), PFS_MISMATCH (at rekey)", r"\] (<[^>]*> )?no acceptable proposal found",
         "`received proposals:` / `configured proposals:` above it show the ESP transforms"),
        ("received %N notify, no CHILD_SA built", "sa/ikev2/tasks/child_create.c", "I",
         "NO_PROPOSAL_CHOSEN = IPSEC_PROPOSAL_MISMATCH / PFS_MISMATCH; TS_UNACCEPTABLE = TRAFFIC_SELECTOR_MISMATCH",
         r"notify, no CHILD_SA built", "IKE_SA stays up"),
        ("failed to establish CHILD_SA, keeping IKE_SA", "sa/ikev2/tasks/child_create.c", "both",
         "IPSEC_PROPOSAL_MISMATCH, PFS_MISMATCH, TRAFFIC_SELECTOR_MISMATCH", r"failed to establish CHILD_SA, keeping IKE_SA", ""),
        ("traffic selectors %#R === %#R unacceptable", "sa/ikev2/tasks/child_create.c", "R",
         "TRAFFIC_SELECTOR_MISMATCH", r"traffic selectors .* unacceptable", "then TS_UNACCEPTABLE"),
        ("DH group %N unacceptable, requesting %N", "sa/ikev2/tasks/child_create.c", "R", "PFS_MISMATCH (recovers if a common group exists)",
         None, "CREATE_CHILD_SA with another KE group: INVALID_KE_PAYLOAD"),
        ("peer didn't accept DH group %N, it requested %N", "sa/ikev2/tasks/child_create.c", "I", "PFS_MISMATCH (recovers)",
         None, ""),
        ("CHILD_SA rekeying failed, trying again in %d seconds", "sa/ikev2/tasks/child_rekey.c", "I",
         "PFS_MISMATCH, REKEY_FAILED", r"CHILD_SA rekeying failed, trying again",
         "the old CHILD_SA stays installed; a PFS mismatch shows only here in IKEv2"),
        ("CHILD_SA %s{%d} established with SPIs %.8x_i %.8x_o and TS %#R === %#R", "sa/ikev2/tasks/child_create.c, sa/ikev1/tasks/quick_mode.c",
         "both", "OK, TS_NARROWED", r"CHILD_SA \S+ established with SPIs",
         "no message for narrowing: compare the TS here with the configured local_ts/remote_ts (cfg level 2 `selecting traffic selectors for us:`)"),
        ("%s traffic selectors for %s:", "config/child_cfg.c", "both", "context (TS_NARROWED, TRAFFIC_SELECTOR_MISMATCH)",
         r"(selecting|proposing) traffic selectors for (us|other):", "level 2 (cfg=2); `selecting ...` lines list the narrowed result"),
    ]),
    ("Retransmits, peer not responding, NAT-T, DPD, rekey (both versions)", [
        ("sending retransmit %u of %s message ID %u, seq %u", "sa/ikev1/task_manager_v1.c", "I (R for its last response)",
         "PEER_NOT_RESPONDING, NAT_T_BLOCKED, IKE_PSK_MISMATCH (IKEv1), DPD_TIMEOUT", r"sending retransmit \d+ of \S+ message ID", "IKEv1"),
        ("retransmit %d of request with message ID %d", "sa/ikev2/task_manager_v2.c", "I",
         "PEER_NOT_RESPONDING, NAT_T_BLOCKED, DPD_TIMEOUT, REKEY_FAILED", r"retransmit \d+ of request with message ID", "IKEv2"),
        ("giving up after %u retransmits", "sa/ikev1/task_manager_v1.c, sa/ikev2/task_manager_v2.c", "I",
         "PEER_NOT_RESPONDING, NAT_T_BLOCKED, DPD_TIMEOUT (IKEv2), REKEY_FAILED", r"giving up after \d+ retransmits",
         "which exchange timed out (IKE_SA_INIT, IKE_AUTH on 4500, INFORMATIONAL, CREATE_CHILD_SA) tells the cause"),
        ("establishing IKE_SA failed, peer not responding", "sa/ike_sa.c", "I", "PEER_NOT_RESPONDING, NAT_T_BLOCKED",
         r"establishing IKE_SA failed, peer not responding", "after the last retransmit while still CONNECTING"),
        ("peer not responding, trying again (%d/%d)", "sa/ike_sa.c", "I", "PEER_NOT_RESPONDING",
         r"peer not responding, trying again", "keyingtries > 1"),
        ("rekeying IKE_SA failed, peer not responding", "sa/ike_sa.c", "I", "REKEY_FAILED",
         r"rekeying IKE_SA failed, peer not responding", ""),
        ("IKE_SA rekeying failed, trying again in %d seconds", "sa/ikev2/tasks/ike_rekey.c", "I", "REKEY_FAILED",
         r"IKE_SA rekeying failed, trying again", "the responder refused the IKE_SA rekey"),
        ("deleting half open IKE_SA with %H after timeout", "processing/jobs/delete_ike_sa_job.c", "R",
         "NAT_T_BLOCKED, IKE_PSK_MISMATCH (IKEv1 Main Mode)", r"deleting half open IKE_SA with .* after timeout",
         "the exchange after IKE_SA_INIT / MM4 never completed (charon.half_open_timeout, 30 s by default)"),
        ("received retransmit of response with ID %u, resending last request", "sa/ikev1/task_manager_v1.c", "I",
         "NAT_T_BLOCKED", r"received retransmit of response with ID \S+, resending last request", "our next request did not arrive"),
        ("remote host is behind NAT", "sa/ike_sa.c", "both", "context", r"remote host is behind NAT",
         "every run of this lab: kernel-libipsec forces UDP encapsulation, not a fault"),
        ("faking NAT situation to enforce UDP encapsulation", "sa/ike_sa.c", "both", "context",
         r"faking NAT situation to enforce UDP encapsulation", "same reason, logged when the peer is not strongSwan"),
        ("local host is behind NAT, sending keep alives", "sa/ike_sa.c", "both", "context", r"local host is behind NAT", ""),
        ("sending DPD request", "sa/ike_sa.c", "both", "DPD_TIMEOUT (when followed by retransmits / time-out)",
         r"sending DPD request", "a liveness probe, normal on its own"),
        ("DPD check timed out, enforcing DPD action", "processing/jobs/dpd_timeout_job.c", "both", "DPD_TIMEOUT",
         r"DPD check timed out, enforcing DPD action", "IKEv1 (dpd_timeout); IKEv2 ends with `giving up after N retransmits` instead"),
        ("destroying IKE_SA in state %N without notification", "sa/ike_sa.c", "both", "context",
         r"destroying IKE_SA in state \S+ without notification", ""),
    ]),
]

# Libreswan 4.10: paths under programs/pluto/
LS = [
    ("IKEv1 (Main / Aggressive / Quick Mode)", [
        ("probable authentication failure (mismatch of preshared secrets?): %s", "ikev1.c", "both",
         "IKE_PSK_MISMATCH", r"probable authentication failure \(mismatch of preshared secrets\?\)",
         "decrypted MM5/MM6 does not parse; typically after `%zd-byte length of ISAKMP ... Payload is larger than can fit`"),
        ("%zd-byte %s of %s is larger than can fit", "packet.c", "both", "IKE_PSK_MISMATCH, IKE_ID_MISMATCH",
         r"-byte length of ISAKMP .* is larger than can fit", "garbage after decrypting with the wrong key"),
        ("%smalformed payload in packet", "ikev1.c", "both", "IKE_PSK_MISMATCH", r"malformed payload in packet", ""),
        ("%s: %s second timeout exceeded after %lu retransmits.  Possible authentication failure: no acceptable response to our first encrypted message",
         "retransmit.c", "I", "IKE_PSK_MISMATCH, IKE_ID_MISMATCH",
         r"Possible authentication failure: no acceptable response to our first encrypted message",
         "state STATE_MAIN_I3 / STATE_AGGR_I2 (also IKEv2 STATE_V2_PARENT_I2)"),
        ("Peer ID '%s' mismatched on first found connection and no better connection found", "peer_id.c", "both",
         "IKE_ID_MISMATCH", r"Peer ID '.*' mismatched on first found connection", "IKEv1 and IKEv2; IKEv1 then sends INVALID_ID_INFORMATION"),
        ("sending %snotification %s to %s", "ikev1_main.c", "both", "by notify (INVALID_ID_INFORMATION after an ID mismatch here)",
         r"sending (encrypted )?notification \S+ to", ""),
        ("no acceptable Oakley Transform", "ikev1_spdb_struct.c", "R", "IKE_PROPOSAL_MISMATCH",
         r"no acceptable Oakley Transform", "preceded by one `Oakley Transform [...] refused` line per offered transform"),
        ("Oakley Transform [%s (%d), %s, %s] refused%s", "ikev1_spdb_struct.c", "R", "IKE_PROPOSAL_MISMATCH",
         r"Oakley Transform \[.*\] refused", "the refused offer: encryption (key length), hash, DH group"),
        ("ignoring informational payload %s, msgid=%08x, length=%d", "ikev1.c", "I",
         "by notify: NO_PROPOSAL_CHOSEN = IKE_PROPOSAL_MISMATCH / IKE_VERSION_MISMATCH (phase 1) or IPSEC_PROPOSAL_MISMATCH / PFS_MISMATCH (Quick Mode); AUTHENTICATION_FAILED = IKE_MODE_MISMATCH; INVALID_ID_INFORMATION = TRAFFIC_SELECTOR_MISMATCH",
         r"ignoring informational payload (NO_PROPOSAL_CHOSEN|AUTHENTICATION_FAILED|INVALID_ID_INFORMATION)",
         "Libreswan logs the peer's unauthenticated error notify and ignores it: it keeps retransmitting"),
        ("received and ignored notification payload: %s", "ikev1.c", "I", "as above",
         r"received and ignored notification payload", ""),
        ("%s: retransmission; will wait %s seconds for response", "retransmit.c", "I (R for its last reply)",
         "PEER_NOT_RESPONDING and every ignored error above", r"retransmission; will wait .* seconds for response",
         "the state name says which exchange: STATE_MAIN_I1 / STATE_AGGR_I1 (first message), STATE_MAIN_I3 (MM5, PSK/ID), STATE_QUICK_I1 (Quick Mode)"),
        ("%s: %s second timeout exceeded after %lu retransmits.  No response (or no acceptable response) to our first IKEv1 message",
         "retransmit.c", "I", "PEER_NOT_RESPONDING, IKE_PROPOSAL_MISMATCH, IKE_VERSION_MISMATCH, IKE_MODE_MISMATCH",
         r"No response \(or no acceptable response\) to our first IKEv1 message", ""),
        ("%s: %s second timeout exceeded after %lu retransmits.  No acceptable response to our first Quick Mode message: perhaps peer likes no proposal",
         "retransmit.c", "I", "IPSEC_PROPOSAL_MISMATCH, PFS_MISMATCH, TRAFFIC_SELECTOR_MISMATCH",
         r"perhaps peer likes no proposal", ""),
        ("%s: max number of retransmissions (%lu) reached after %s seconds...", "retransmit.c", "I", "as the two above",
         r"max number of retransmissions", "same endings as the timeout variant"),
        ("no acceptable Proposal in IPsec SA", "ikev1_spdb_struct.c", "R", "IPSEC_PROPOSAL_MISMATCH, PFS_MISMATCH",
         r"no acceptable Proposal in IPsec SA", "then NO_PROPOSAL_CHOSEN"),
        ("the peer proposed: %s", "ikev1_quick.c", "R", "context (TRAFFIC_SELECTOR_MISMATCH)", r"the peer proposed: ",
         "the Quick Mode IDs the initiator sent"),
        ("%s ID payload in Quick I1, %s %s - %s unacceptable: %s", "ikev1_quick.c", "R", "TRAFFIC_SELECTOR_MISMATCH",
         r"ID payload in Quick I1, .* unacceptable", ""),
        ("initial Main Mode message received but no connection has been authorized with authby=%s and xauth=%s",
         "ikev1_host_pair.c", "R", "IKE_MODE_MISMATCH (peer uses Main Mode, we only Aggressive), or no conn for the peer",
         r"initial Main Mode message received but no connection has been authorized", "no answer is sent"),
        ("IKEv1 Aggressive Mode with PSK is vulnerable to dictionary attacks and is cracked on large scale by TLA's",
         "ikev1_aggr.c", "both", "context", r"Aggressive Mode with PSK is vulnerable", "warning only"),
        ("ignoring IKEv1 packet as policy is set to silently drop all IKEv1 packets", "demux.c", "R",
         "IKE_VERSION_MISMATCH", r"ignoring IKEv1 packet as policy is set to silently drop",
         "Debian 4.10 default (ikev1-policy=drop): the IKEv1 peer sees no answer at all"),
        ("failed to add IKEv1 connection: global ikev1-policy does not allow IKEv1 connections", "connections.c", "-",
         "- (local config)", r"global ikev1-policy does not allow IKEv1", ""),
        ("DPD action - clearing connection kind %s", "ikev1_dpd.c", "both", "DPD_TIMEOUT",
         r"DPD action - ", "also `DPD action - restarting all connections ...` / `... putting connection into hold`"),
    ]),
    ("IKEv2", [
        ("no local proposal matches remote proposals %s", "ikev2_proposals.c", "R",
         "IKE_PROPOSAL_MISMATCH (IKE_SA_INIT), IPSEC_PROPOSAL_MISMATCH (ESP in IKE_AUTH / CREATE_CHILD_SA)",
         r"no local proposal matches remote proposals", "lists the remote proposals, e.g. `1:IKE:ENCR=AES_CBC_256;INTEG=...;PRF=...;DH=MODP2048`"),
        ("responding to %s message (ID %u) from %s with %s notification %s", "ikev2_send.c", "R",
         "by notify: NO_PROPOSAL_CHOSEN = IKE_PROPOSAL_MISMATCH; AUTHENTICATION_FAILED = IKE_PSK_MISMATCH, IKE_ID_MISMATCH",
         r"responding to \S+ message \(ID \d+\) from .* notification", "`unencrypted` in IKE_SA_INIT, `encrypted` in IKE_AUTH"),
        ("responding to %s (%d) message (Message ID %u) with unencrypted notification %s", "ikev2_send.c", "R",
         "IKE_VERSION_MISMATCH (no IKEv2 conn)", r"responding to \S+ \(\d+\) message \(Message ID", ""),
        ("%s message received on %s but no suitable connection found with IKEv2 policy", "ikev2_host_pair.c", "R",
         "IKE_VERSION_MISMATCH", r"but no suitable connection found with IKEv2 policy", "our conn is IKEv1 only"),
        ("dropping unexpected %s message containing %s notification; ...", "ikev2_states.c", "I",
         "IKE_PROPOSAL_MISMATCH, IKE_VERSION_MISMATCH",
         r"dropping unexpected IKE_SA_INIT message containing NO_PROPOSAL_CHOSEN",
         "Libreswan ignores the unauthenticated NO_PROPOSAL_CHOSEN and retransmits until it gives up"),
        ("authentication failed: computed hash does not match hash received from peer %s '%s'", "ikev2_psk.c", "R (or I)",
         "IKE_PSK_MISMATCH", r"computed hash does not match hash received from peer", ""),
        ("IKE SA authentication request rejected by peer: %s", "ikev2_ike_auth.c", "I", "IKE_PSK_MISMATCH, IKE_ID_MISMATCH",
         r"IKE SA authentication request rejected by peer", "the peer answered AUTHENTICATION_FAILED"),
        ("%s established IKE SA; authenticated peer using authby=%s and %s '%s'", "ikev2_psk.c", "both", "OK (IKE SA)",
         r"established IKE SA; authenticated peer using", "`initiator` / `responder`"),
        ("IKE_AUTH response rejected Child SA with %s", "ikev2_child.c", "I",
         "NO_PROPOSAL_CHOSEN = IPSEC_PROPOSAL_MISMATCH; TS_UNACCEPTABLE = TRAFFIC_SELECTOR_MISMATCH",
         r"response rejected Child SA with", "IKE SA stays up"),
        ("%s failed, responder SA processing returned %s", "ikev2_child.c", "R", "IPSEC_PROPOSAL_MISMATCH, PFS_MISMATCH",
         r"failed, responder SA processing returned", "e.g. `IKE_AUTH responder matching remote ESP/AH proposals failed, ...NO_PROPOSAL_CHOSEN`"),
        ("No IKEv2 connection found with compatible Traffic Selectors", "ikev2_ts.c", "R", "TRAFFIC_SELECTOR_MISMATCH",
         r"No IKEv2 connection found with compatible Traffic Selectors", "then TS_UNACCEPTABLE"),
        ("Received unauthenticated INVALID_KE_PAYLOAD response to DH %s; resending with suggested DH %s", "ikev2_ike_sa_init.c", "I",
         "- (recovers)", r"INVALID_KE_PAYLOAD response to DH", "also `Discarding unauthenticated INVALID_KE_PAYLOAD ... not acceptable` = IKE_PROPOSAL_MISMATCH"),
        ("initiator guessed wrong keying material group (%s); responding with INVALID_KE_PAYLOAD requesting %s", "ikev2_parent.c", "R",
         "- (recovers)", r"guessed wrong keying material group", ""),
        ("%s: retransmission; will wait %s seconds for response", "retransmit.c", "I",
         "PEER_NOT_RESPONDING, NAT_T_BLOCKED, DPD_TIMEOUT", r"STATE_V2_\S+: retransmission; will wait",
         "STATE_V2_PARENT_I1 = IKE_SA_INIT unanswered; STATE_V2_PARENT_I2 = IKE_AUTH unanswered (NAT-T/PSK); STATE_V2_ESTABLISHED_IKE_SA = liveness/rekey"),
        ("%s: %s second timeout exceeded after %lu retransmits.  No response (or no acceptable response) to our first IKEv2 message",
         "retransmit.c", "I", "PEER_NOT_RESPONDING, IKE_PROPOSAL_MISMATCH, IKE_VERSION_MISMATCH",
         r"No response \(or no acceptable response\) to our first IKEv2 message", ""),
        ("%s: ... No response (or no acceptable response) to our %s message", "retransmit.c", "I",
         "DPD_TIMEOUT, REKEY_FAILED", r"No response \(or no acceptable response\) to our IKEv2 message",
         "established IKE SA: liveness probe or rekey unanswered"),
        ("liveness action - clearing connection kind %s", "ikev2_retry.c", "both", "DPD_TIMEOUT", r"liveness action - ",
         "also `... restarting all connections that share this peer` / `... putting connection into hold`"),
        ("%s %s has no corresponding IKE SA; message dropped", "ikev2.c", "both", "context (peer kept an SA we deleted)",
         r"has no corresponding IKE SA; message dropped", ""),
        ("netlink response for %s %s", "kernel_xfrm.c", "both", "- (local kernel)", r"netlink response for Add SA",
         "`Add SA esp...: Protocol not supported (errno 93)`: no ESP in the kernel; every Libreswan run of this lab"),
        ("CHILD SA encountered fatal error: %s", "ikev2_child.c", "both", "- (follows the kernel error)", r"CHILD SA encountered fatal error", ""),
        ("encountered fatal error in state %s", "ikev2.c, ikev1.c", "both", "by state (R0 = proposal, R1/I2 = auth)",
         r"encountered fatal error in state", ""),
        ("deleting %s but connection is supposed to remain up; schedule EVENT_REVIVE_CONNS", "revival.c", "both", "context",
         r"connection is supposed to remain up; schedule EVENT_REVIVE_CONNS", "Libreswan retries a failed conn it brought up"),
    ]),
]

CODES = "OK IKE_PSK_MISMATCH IKE_VERSION_MISMATCH IKE_MODE_MISMATCH IKE_ID_MISMATCH IKE_PROPOSAL_MISMATCH PEER_NOT_RESPONDING NAT_T_BLOCKED DPD_TIMEOUT TRAFFIC_SELECTOR_MISMATCH TS_NARROWED IPSEC_PROPOSAL_MISMATCH PFS_MISMATCH REKEY_FAILED".split()


def load_logs():
    """(case, end, is_pluto, text) for every stored log."""
    out = []
    if not os.path.isdir(DATA):
        return out
    for c in sorted(os.listdir(DATA)):
        for end in ("idc", "cloud"):
            p = os.path.join(DATA, c, end + ".log")
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append((c, end, c.startswith("ls_") and end == "idc", f.read()))
    return out


def seen(logs, rx, pluto):
    if rx is None:
        return []
    r = re.compile(rx, re.M)
    return sorted({c for c, _, p, t in logs if p == pluto and r.search(t)})


def esc(s):
    return s.replace("|", "\\|")


def expect_of(case):
    p = os.path.join(DATA, case, "case.env")
    try:
        with open(p) as f:
            for line in f:
                if line.startswith("EXPECT="):
                    return line.strip().split("=", 1)[1]
    except OSError:
        pass
    return ""


def example(cases, cause):
    """an example run, preferably one whose EXPECT is among the row's causes"""
    for c in cases:
        if expect_of(c) and expect_of(c) in cause:
            return c
    return cases[0]


def table(title, rows, logs, pluto, root):
    out = [f"### {title}", "",
           "| message (format as logged) | source | side | cause | seen in lab |",
           "|---|---|---|---|---|"]
    for fmt, src, side, cause, rx, note in rows:
        cases = seen(logs, rx, pluto)
        if cases:
            s = f"yes, {len(cases)} run{'s' if len(cases) > 1 else ''} (e.g. `{example(cases, cause)}`)"
        else:
            s = "no"
        srcs = ", ".join(f"`{x.strip() if x.strip().startswith('src/') else root + x.strip()}`" for x in src.split(","))
        cell = f"`{esc(fmt)}`" + (f"<br>{esc(note)}" if note else "")
        out.append(f"| {cell} | {srcs} | {side} | {esc(cause)} | {s} |")
    out.append("")
    return out


def render():
    logs = load_logs()
    L = []
    L += ["# IKE failure log messages: strongSwan and Libreswan", "",
          "Which log line points to which cause, for the two IKE daemons vpntrace reads logs of.",
          "The wording comes from reading the daemons' sources at the versions the lab runs",
          "(strongSwan **5.9.8**, tag `5.9.8`; Libreswan **4.10**, tag `v4.10`; both from Debian 12);",
          "the format strings are shown as they appear in logs, with the C conversions left in",
          "(`%N` an enum name such as a notify or payload type, `%Y` an identity, `%H` a host[:port],",
          "`%R`/`%#R` traffic selectors, `%s`/`%d`/`%u` text and numbers).", "",
          "*Seen in lab* tells whether the line occurs in the stored real runs under",
          "`tests/data/ike-lab/` (see its README), with one example case. The column is computed",
          "by `scripts/ike-lab/messages_doc.py` from those logs; rerun it after new runs.", "",
          "Cause codes: " + ", ".join(f"`{c}`" for c in CODES) + ". `-` means not a peer",
          "mismatch (local problem) and *context* a line that helps read the others but is not",
          "a failure by itself.", "",
          "Side: **I** the initiator of the exchange (for DPD and rekeys, whoever sends the",
          "request), **R** the responder. A cause usually shows as a pair: the side that detects",
          "it logs the specific line, the other side logs the notify it receives (or, for",
          "Libreswan, only retransmits, since it ignores unauthenticated error notifies).", "",
          "How to read a pair quickly:", "",
          "- `received proposals:` / `configured proposals:` (strongSwan, cfg level 2, just above",
          "  `received proposals unacceptable` / `no acceptable proposal found` / `no proposal found`)",
          "  show both sides' transforms: the one that differs (encryption, integrity, PRF, DH",
          "  group, or a DH group present on one side only = PFS) is the cause.",
          "- IKEv1 says `received X error notify`, IKEv2 `received X notify error`.",
          "- IKEv2 builds the first CHILD_SA without a key exchange: a PFS mismatch only shows at",
          "  the first CHILD_SA rekey (`CHILD_SA rekeying failed`). In IKEv1 it fails Quick Mode",
          "  at once (`no matching proposal found, sending NO_PROPOSAL_CHOSEN`).",
          "- Narrowing (`TS_NARROWED`) has no message of its own in either daemon: the CHILD_SA is",
          "  established, with selectors smaller than configured (`CHILD_SA ... established with",
          "  SPIs ... and TS a === b`, `swanctl --list-sas`).",
          "- Retransmit lines alone do not tell the cause; the exchange does: IKE_SA_INIT / Main",
          "  Mode message 1 unanswered = peer down, IKE_AUTH (port 4500) unanswered after a good",
          "  IKE_SA_INIT = NAT-T (UDP 4500) blocked (the responder then logs `deleting half open",
          "  IKE_SA ... after timeout`), INFORMATIONAL on an established SA = DPD, CREATE_CHILD_SA",
          "  = rekey.", ""]
    L += ["## strongSwan 5.9.8 (charon)", "",
          "Paths are relative to `src/libcharon/` of the strongSwan tree.", ""]
    for title, rows in SS:
        L += table(title, rows, logs, False, "")
    L += ["## Libreswan 4.10 (pluto)", "",
          "Paths are relative to `programs/pluto/` of the Libreswan tree. pluto prefixes state",
          "lines with `\"conn\" #serial: ` and lines from before a state exists with",
          "`packet from addr:port: `.", ""]
    for title, rows in LS:
        L += table(title, rows, logs, True, "")
    L += ["## Not produced in the lab", "",
          "- Libreswan could not keep a Child SA (no ESP in the lab kernel, see the lab README), so",
          "  its rekey, liveness and IKEv1 DPD lines are from the source only; the strongSwan side",
          "  of those runs was observed.",
          "- Half-open timeouts at a Libreswan responder (`deleting incomplete state after %s seconds`,",
          "  `timer.c`) were not triggered.",
          "- INVALID_KE_PAYLOAD recovery needs overlapping but differently ordered DH groups; the",
          "  lab only has disjoint groups, which end in NO_PROPOSAL_CHOSEN.", ""]
    return "\n".join(L)


def main():
    text = render()
    if "--check" in sys.argv:
        with open(DOC) as f:
            sys.exit(0 if f.read() == text else 1)
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    with open(DOC, "w") as f:
        f.write(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
