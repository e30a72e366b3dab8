//! IPsec: which SA covers a packet, entering a tunnel on either end, and the tunnel itself
//! (ESP between the two public addresses).

use crate::engine::cause::{Cause, Side};
use crate::engine::step::{Detail, SaSet};
use crate::engine::trace::{Disposition, Hop, Packet, Step, StepAction, StepKind};
use crate::engine::walk::{At, Next, Walker};
use crate::graph::region::{member, sa_cover, F};
use crate::input::{IpsecMode, Role};
use crate::model::rules::RouteChoice;

impl<'a> Walker<'a> {
    /// Which SA carries the packet (outbound: source in local, destination in remote).
    pub(super) fn sa(
        &mut self,
        sas: &[crate::graph::region::SaIv],
        pkt: Packet,
        outbound: bool,
    ) -> Option<usize> {
        sa_cover(
            &mut self.nw,
            sas,
            u32::from(pkt.src),
            u32::from(pkt.dst),
            outbound,
        )
    }

    /// As `sa`, for a packet whose fields carried `sym` (e.g. before source NAT).
    pub(super) fn sa_with(
        &mut self,
        sym: [Option<usize>; 4],
        sas: &[crate::graph::region::SaIv],
        pkt: Packet,
        outbound: bool,
    ) -> Option<usize> {
        let saved = self.nw.sym;
        self.nw.sym = sym;
        let r = self.sa(sas, pkt, outbound);
        self.nw.sym = saved;
        r
    }

    pub(super) fn enter_tunnel_cloud(&mut self, c: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let conn = &m.connections[c];
        if !conn.established() {
            hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::NotEstablished {
                    conn: c,
                    cloud: true,
                },
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::NotEstablished { conn: c }),
            );
        }
        let idx = self.idx;
        match self.sa(&idx.cloud_sas[c], pkt, true) {
            Some(s) => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Encrypt,
                    rule: None,
                    detail: Detail::SaMatch {
                        sas: SaSet::Cloud { conn: c },
                        sa: s,
                        inbound: false,
                    },
                });
                Next::Go(
                    At::Tunnel {
                        conn: c,
                        to_cloud: false,
                    },
                    pkt,
                )
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::NoSa {
                        sas: SaSet::Cloud { conn: c },
                        inbound: false,
                        src: pkt.src,
                        dst: pkt.dst,
                    },
                });
                Next::End(
                    Disposition::Dropped,
                    Some(Cause::SaMissing {
                        conn: c,
                        side: Side::Cloud,
                        inbound: false,
                        reply: self.reply,
                    }),
                )
            }
        }
    }

    pub(super) fn tunnel(&mut self, c: usize, to_cloud: bool, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let conn = &m.connections[c];
        let vgw = &m.vpn_gateways[conn.vpn_gateway];
        let cgw = &m.customer_gateways[conn.customer_gateway];
        if to_cloud {
            hop.push(|| Step {
                kind: StepKind::Tunnel,
                action: StepAction::Forward,
                rule: None,
                detail: Detail::Esp {
                    from: cgw.ip,
                    to: vgw.public_ip,
                },
            });
            return Next::Go(
                At::VpnGatewayFromTunnel {
                    vgw: conn.vpn_gateway,
                    conn: c,
                },
                pkt,
            );
        }
        hop.push(|| Step {
            kind: StepKind::Tunnel,
            action: StepAction::Forward,
            rule: None,
            detail: Detail::Esp {
                from: vgw.public_ip,
                to: cgw.ip,
            },
        });
        match self.idx.tunnel_end[c] {
            Some((d, e)) => {
                let entry = &m.devices[d].ipsec[e];
                // Policy mode: the packet comes out on the outside interface; route mode:
                // on the tunnel itself.
                let in_iface = match entry.mode {
                    IpsecMode::Policy => entry.interface,
                    IpsecMode::Route => None,
                };
                Next::Go(
                    At::Device {
                        dev: d,
                        in_iface,
                        tunnel: Some(c),
                    },
                    pkt,
                )
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Exit,
                    action: StepAction::Exit,
                    rule: None,
                    detail: Detail::NoIdcEndpoint { conn: c },
                });
                Next::End(
                    Disposition::ExitsNetwork,
                    Some(Cause::NoIdcEndpoint { conn: c }),
                )
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn enter_tunnel_idc(
        &mut self,
        d: usize,
        c: usize,
        pkt: Packet,
        hop: &mut Hop,
        entry: Option<usize>,
        pre_nat: Packet,
        snat: Option<usize>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let Some(e) = entry.or_else(|| dev.ipsec.iter().position(|x| x.connection == c)) else {
            hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::NoIpsecEntry { conn: c, dev: d },
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::SaMissing {
                    conn: c,
                    side: Side::Idc(d),
                    inbound: false,
                    reply: self.reply,
                }),
            );
        };
        if !m.connections[c].established() {
            hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::NotEstablished {
                    conn: c,
                    cloud: false,
                },
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::NotEstablished { conn: c }),
            );
        }
        let idx = self.idx;
        match self.sa(&idx.dev_sas[d][e], pkt, true) {
            Some(s) => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Encrypt,
                    rule: None,
                    detail: Detail::SaMatch {
                        sas: SaSet::Device { dev: d, entry: e },
                        sa: s,
                        inbound: false,
                    },
                });
                Next::Go(
                    At::Tunnel {
                        conn: c,
                        to_cloud: true,
                    },
                    pkt,
                )
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::NoSa {
                        sas: SaSet::Device { dev: d, entry: e },
                        inbound: false,
                        src: pkt.src,
                        dst: pkt.dst,
                    },
                });
                let pre_sym = self.pre_nat_sym;
                let nat_broke = match snat {
                    Some(rule) => self
                        .sa_with(pre_sym, &idx.dev_sas[d][e], pre_nat, true)
                        .map(|_| rule),
                    None => None,
                };
                match nat_broke {
                    Some(rule) => Next::End(
                        Disposition::Dropped,
                        Some(Cause::NatBreaksIpsec {
                            dev: d,
                            nat: rule,
                            conn: c,
                            reply: self.reply,
                        }),
                    ),
                    None => Next::End(
                        Disposition::Dropped,
                        Some(Cause::SaMissing {
                            conn: c,
                            side: Side::Idc(d),
                            inbound: false,
                            reply: self.reply,
                        }),
                    ),
                }
            }
        }
    }

    /// A packet out of connection `c`'s tunnel at device `d`: some SA of the device's
    /// entry for `c` must accept it. None when it does; else how the path ends.
    pub(super) fn tunnel_arrival(
        &mut self,
        d: usize,
        c: usize,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Option<Next> {
        let dev = &self.m.devices[d];
        let Some(e) = dev.ipsec.iter().position(|x| x.connection == c) else {
            return Some(Next::End(
                Disposition::Dropped,
                Some(Cause::NoIdcEndpoint { conn: c }),
            ));
        };
        let idx = self.idx;
        let sas = SaSet::Device { dev: d, entry: e };
        match self.sa(&idx.dev_sas[d][e], pkt, false) {
            Some(s) => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Decrypt,
                    rule: None,
                    detail: Detail::SaMatch {
                        sas,
                        sa: s,
                        inbound: true,
                    },
                });
                None
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::NoSa {
                        sas,
                        inbound: true,
                        src: pkt.src,
                        dst: pkt.dst,
                    },
                });
                Some(Next::End(
                    Disposition::Dropped,
                    Some(Cause::SaMissing {
                        conn: c,
                        side: Side::Idc(d),
                        inbound: true,
                        reply: self.reply,
                    }),
                ))
            }
        }
    }

    /// Why a packet left device `d` by route `r` out of the modelled network. Toward the
    /// VPC that is an IPsec problem when the outgoing interface has IPsec policies: source
    /// NAT broke the match (the packet before NAT would have matched an SA), the policy
    /// covers it but no SA does (SA layout, or the connection is not up), or nothing
    /// covers it (sent in clear). Elsewhere, the route simply leads out.
    pub(super) fn exit_cause(
        &mut self,
        d: usize,
        r: &RouteChoice,
        pkt: Packet,
        pre_nat: Packet,
        snat: Option<usize>,
    ) -> Cause {
        let m = self.m;
        let dev = &m.devices[d];
        let out = r.out_iface;
        let cloud_bound = member(&mut self.nw, &self.idx.vpc_iv, F::Dst, u32::from(pkt.dst));
        if !cloud_bound {
            return Cause::LeftNetwork {
                dev: d,
                route: r.id.clone(),
                reply: self.reply,
            };
        }
        let idx = self.idx;
        let pre_sym = self.pre_nat_sym;
        let policy_entries = (0..dev.ipsec.len()).filter(|&e| {
            out.is_some() && dev.ipsec[e].mode == IpsecMode::Policy && dev.ipsec[e].interface == out
        });
        // Source NAT broke it when the packet before NAT would have matched an SA.
        if let Some(rule) = snat {
            for e in policy_entries.clone() {
                if self
                    .sa_with(pre_sym, &idx.dev_sas[d][e], pre_nat, true)
                    .is_some()
                {
                    return Cause::NatBreaksIpsec {
                        dev: d,
                        nat: rule,
                        conn: dev.ipsec[e].connection,
                        reply: self.reply,
                    };
                }
            }
        }
        // The IPsec policy is configured for this traffic but no SA carries it: an SA
        // layout problem (faq 5), not a routing one.
        for e in policy_entries {
            if self
                .sa(std::slice::from_ref(&idx.dev_cfg[d][e]), pkt, true)
                .is_some()
            {
                let conn = dev.ipsec[e].connection;
                // No IPsec SA at all: the connection is not up (faq 1/2), not an SA
                // layout problem.
                if !m.connections[conn].established() {
                    return Cause::NotEstablished { conn };
                }
                return Cause::SaMissing {
                    conn,
                    side: Side::Idc(d),
                    inbound: false,
                    reply: self.reply,
                };
            }
        }
        Cause::LeftInClear {
            dev: d,
            route: r.id.clone(),
            outside: out.is_some_and(|o| dev.interfaces[o].role == Role::Outside),
            reply: self.reply,
        }
    }
}
