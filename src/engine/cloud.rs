//! The cloud side: an instance sending and receiving (its security groups), the VRouter's
//! route tables, and the VPN gateway's routes toward a connection and from it.

use crate::engine::cause::{Cause, Side};
use crate::engine::decide::*;
use crate::engine::step::{Detail, Note, SaSet, VpnRouteKind};
use crate::engine::trace::{Disposition, Hop, Packet, Step, StepAction, StepKind};
use crate::engine::walk::{note, At, Next, Walker};
use crate::graph::region::F;
use crate::input::Direction;
use crate::model::rules::VrRoute;
use crate::model::CloudHop;

impl<'a> Walker<'a> {
    pub(super) fn instance_send(&mut self, i: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        if let Err(c) = self.security_group(i, Direction::Egress, pkt, hop) {
            return Next::End(Disposition::Dropped, Some(c));
        }
        let v = m.instances[i].vswitch;
        Next::Go(
            At::VRouter {
                table: m.vswitches[v].route_table,
                vswitch: Some(v),
            },
            pkt,
        )
    }

    /// Security groups of an instance, as Alibaba Cloud evaluates them: the rules of all
    /// its groups pooled, ordered by priority (1 first); at equal priority a drop wins.
    /// No rule matching: basic groups deny ingress (except from members of the same group
    /// while inner access is on) and allow egress; enterprise groups deny both. Stateful:
    /// the reply of a flow the group saw is accepted.
    pub(super) fn security_group(
        &mut self,
        i: usize,
        dir: Direction,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Result<(), Cause> {
        let m = self.m;
        let key_seen = (i, pkt.reversed());
        if self.reply && self.sessions.sg.contains(&key_seen) {
            hop.push(|| Step {
                kind: StepKind::SecurityGroup,
                action: StepAction::Accept,
                rule: None,
                detail: Detail::SgReply { dir },
            });
            return Ok(());
        }
        if let Some(a) = &self.nw.alike {
            // The peers: the sources in, the destinations out.
            let peer = match dir {
                Direction::Ingress => self.nw.range(F::Src, u32::from(pkt.src)),
                Direction::Egress => self.nw.range(F::Dst, u32::from(pkt.dst)),
            };
            let groups = &m.instances[i].security_groups;
            if groups.iter().any(|&g| a.group_tells_apart(g, dir, peer)) {
                self.nw.alike = None;
            }
        }
        let v = sg_decide_in(m, self.idx, i, dir, pkt, &mut self.nw);
        let action = if v.accept {
            StepAction::Accept
        } else {
            StepAction::Drop
        };
        hop.push(|| Step {
            kind: StepKind::SecurityGroup,
            action,
            rule: v.rule_id(m),
            detail: Detail::Sg { dir, verdict: v },
        });
        if v.accept {
            if !self.reply && !self.sessions.sg.contains(&(i, pkt)) {
                self.sessions.sg.push((i, pkt));
            }
            Ok(())
        } else {
            Err(Cause::SgDrop {
                instance: i,
                direction: dir,
                rule: v.rule,
                reply: self.reply,
            })
        }
    }

    /// VRouter: longest prefix over the table's entries, the system routes of every
    /// vSwitch CIDR, and (system table only) the VPN routes published to the VPC.
    pub(super) fn vrouter(
        &mut self,
        table: usize,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<Note>,
    ) -> Next {
        let m = self.m;
        // Every system route delivers alike: to the owner, whose vSwitch's route table
        // the atom sets already share, or to an unmodelled host.
        let found = self.idx.vrouter[table]
            .lookup_on_alike(&mut self.nw, F::Dst, u32::from(pkt.dst), |a, b| {
                matches!((a, b), (Some(VrRoute::System(_)), Some(VrRoute::System(_)))) || a == b
            })
            .map(|x| x.3);
        match found {
            None => {
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::VrouterNoRoute {
                        dst: pkt.dst,
                        table,
                    },
                });
                // The longest VPN destination route for the address, published or not.
                let mut vpn_route = None;
                for g in 0..m.vpn_gateways.len() {
                    if let Some(x) =
                        self.idx.vpn_dest[g].lookup_on(&mut self.nw, F::Dst, u32::from(pkt.dst))
                    {
                        vpn_route = Some((g, x.3));
                        break;
                    }
                }
                Next::End(
                    Disposition::Dropped,
                    Some(Cause::VrouterNoRoute {
                        table,
                        vpn_route,
                        reply: self.reply,
                    }),
                )
            }
            Some(VrRoute::System(v)) => {
                let v = v as usize;
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Forward,
                    rule: None,
                    detail: Detail::VrouterSystem { vswitch: v },
                });
                let owner = if self.owned(F::Dst, pkt.dst) {
                    self.idx.instance_at(pkt.dst)
                } else {
                    None
                };
                match owner {
                    // Delivery to the instance: its security groups judge ingress.
                    Some(i) => Next::Go(At::InstanceRecv(i), pkt),
                    None => {
                        note(
                            self.quiet,
                            notes,
                            Note::UnmodelledCloudHost {
                                addr: pkt.dst,
                                vswitch: v,
                            },
                        );
                        hop.push(|| Step {
                            kind: StepKind::Deliver,
                            action: StepAction::Deliver,
                            rule: None,
                            detail: Detail::DeliveredCloudHost {
                                addr: pkt.dst,
                                vswitch: v,
                            },
                        });
                        Next::End(Disposition::Delivered, None)
                    }
                }
            }
            Some(VrRoute::Published { vgw, route }) => {
                let (vgw, route) = (vgw as usize, route as usize);
                let r = &m.vpn_gateways[vgw].destination_routes[route];
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Forward,
                    rule: Some(r.id.clone()),
                    detail: Detail::VrouterPublished { vgw, route },
                });
                Next::Go(At::VpnGateway(vgw), pkt)
            }
            Some(VrRoute::Entry(e)) => {
                let e = e as usize;
                let entry = &m.route_tables[table].entries[e];
                // Only a VPN gateway next hop goes on; a blackhole drops, an instance or
                // another cloud resource takes the packet out of what is modelled.
                let go = match &entry.next_hop {
                    CloudHop::VpnGateway(g) => Ok(*g),
                    CloudHop::Blackhole => Err((StepAction::Drop, Disposition::Dropped)),
                    CloudHop::Instance(_) | CloudHop::Other { .. } => {
                        Err((StepAction::Exit, Disposition::ExitsNetwork))
                    }
                };
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: go.map_or_else(|(a, _)| a, |_| StepAction::Forward),
                    rule: Some(entry.id.clone()),
                    detail: Detail::VrouterEntry { table, entry: e },
                });
                match go {
                    Ok(g) => Next::Go(At::VpnGateway(g), pkt),
                    Err((_, d)) => Next::End(
                        d,
                        Some(Cause::VrouterRouteElsewhere {
                            table,
                            entry: e,
                            reply: self.reply,
                        }),
                    ),
                }
            }
        }
    }

    /// VPN gateway, from the VPC: policy routes first (priority order, source and
    /// destination must match), then destination routes by longest prefix; then the
    /// connection's SAs must cover the packet.
    pub(super) fn vpn_gateway(&mut self, g: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let Some((route, kind)) = vpn_route_lookup_in(m, self.idx, g, pkt, &mut self.nw) else {
            hop.push(|| Step {
                kind: StepKind::Route,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::VpnNoRoute {
                    dst: pkt.dst,
                    vgw: g,
                },
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::VpnGatewayNoRoute {
                    vgw: g,
                    reply: self.reply,
                }),
            );
        };
        let c = route.connection;
        hop.push(|| Step {
            kind: StepKind::Route,
            action: StepAction::Forward,
            rule: Some(route.id.clone()),
            detail: Detail::VpnRoute {
                kind: match kind {
                    "policy" => VpnRouteKind::Policy {
                        source: route.source,
                        priority: route.priority,
                    },
                    _ => VpnRouteKind::Destination,
                },
                destination: route.destination,
                conn: c,
            },
        });
        self.enter_tunnel_cloud(c, pkt, hop)
    }

    /// VPN gateway, from the tunnel: some SA must accept the packet (seen from the
    /// cloud: source in its remote selectors, destination in its local ones); then the
    /// VPC's system route table delivers it.
    pub(super) fn vpn_gateway_inbound(
        &mut self,
        g: usize,
        c: usize,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Next {
        let m = self.m;
        let idx = self.idx;
        match self.sa(&idx.cloud_sas[c], pkt, false) {
            Some(s) => hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Decrypt,
                rule: None,
                detail: Detail::SaMatch {
                    sas: SaSet::Cloud { conn: c },
                    sa: s,
                    inbound: true,
                },
            }),
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::NoSa {
                        sas: SaSet::Cloud { conn: c },
                        inbound: true,
                        src: pkt.src,
                        dst: pkt.dst,
                    },
                });
                return Next::End(
                    Disposition::Dropped,
                    Some(Cause::SaMissing {
                        conn: c,
                        side: Side::Cloud,
                        inbound: true,
                        reply: self.reply,
                    }),
                );
            }
        }
        match m.system_table {
            Some(t) => Next::Go(
                At::VRouter {
                    table: t,
                    vswitch: None,
                },
                pkt,
            ),
            None => {
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::VpcNoRouteTable,
                });
                Next::End(
                    Disposition::Dropped,
                    Some(Cause::VpnGatewayNoRoute {
                        vgw: g,
                        reply: self.reply,
                    }),
                )
            }
        }
    }
}
