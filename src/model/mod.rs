//! The validated model: every reference resolved to an index, every address parsed,
//! every rule list in evaluation order. [`load`] reads a file and [`lower`] is the one
//! function that crosses from the input format into the model; analyses see only this.

pub mod rules;
pub mod validate;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::input::error::InputError;
use crate::input::{
    self, Action, ConnStatus, DeviceKind, Direction, IpsecMode, NatAction, NextHopKind, Role,
    RpFilter, SgType,
};
use crate::net::addr::{AddrSet, Cidr, Ports, Protocol};

/// Topology files larger than this are refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// The lowered topology. Its lists are shared (`Arc`), and the security groups, route
/// tables and devices in them too: a fixed variant of the model (see
/// [`Model::with_device`]) copies only the list it changes, and no element of it.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub vpc_id: String,
    pub vpc_cidrs: Vec<Cidr>,
    pub vpc_set: AddrSet,
    pub vswitches: Arc<Vec<VSwitch>>,
    pub route_tables: Arc<Vec<Arc<RouteTable>>>,
    /// Index of the VPC's system route table (SPEC: the one marked `system`, or the only one).
    pub system_table: Option<usize>,
    pub security_groups: Arc<Vec<Arc<SecurityGroup>>>,
    pub instances: Arc<Vec<Instance>>,
    /// The instances by address: (address, index into `instances`), sorted.
    pub instances_by_ip: Arc<Vec<(Ipv4Addr, usize)>>,
    pub vpn_gateways: Arc<Vec<VpnGateway>>,
    pub customer_gateways: Arc<Vec<CustomerGateway>>,
    pub connections: Arc<Vec<Connection>>,
    pub devices: PerItem<Device>,
    pub flows: Vec<input::FlowSpec>,
    /// Where each security group, route table and on-prem device is, by id: built on
    /// first use (see [`Model::ids`]), shared by the models patched from this one.
    pub ids: Arc<IdIndex>,
}

/// [`Ids`] built on first use. A cache of what the model holds: its debug form says
/// nothing (two equal models print alike whether or not it was built).
#[derive(Default)]
pub struct IdIndex(std::sync::OnceLock<Ids>);

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdIndex")
    }
}

/// The positions of the security groups, route tables and on-prem devices by id (the
/// first of an id; the model keeps the topology's order, so these are the topology's
/// positions too).
#[derive(Debug, Default)]
pub struct Ids {
    pub security_groups: IdMap,
    pub route_tables: IdMap,
    pub devices: IdMap,
    /// What a patched object's references resolve against (see [`Model::with_device`]
    /// and the others).
    pub connections: IdMap,
    pub vpn_gateways: IdMap,
    pub instances: IdMap,
}

/// Positions by id, only looked up (built once for tens of thousands of ids, by the
/// first fix `check` verifies while the other threads wait).
pub type IdMap = FastMap<String, usize>;

/// A hash map that is only looked up, never iterated: foldhash's fast hasher with a
/// fixed seed (the same every run), in place of the default SipHash.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

impl Model {
    /// Where each security group, route table and on-prem device is, by id (a patch
    /// changes no id).
    pub fn ids(&self) -> &Ids {
        self.ids.0.get_or_init(|| Ids {
            security_groups: Ids::of(self.security_groups.iter().map(|x| &x.id)),
            route_tables: Ids::of(self.route_tables.iter().map(|x| &x.id)),
            devices: Ids::of(self.devices.iter().map(|x| &x.id)),
            connections: Ids::of(self.connections.iter().map(|x| &x.id)),
            vpn_gateways: Ids::of(self.vpn_gateways.iter().map(|x| &x.id)),
            instances: Ids::of(self.instances.iter().map(|x| &x.id)),
        })
    }
}

impl Ids {
    fn of<'a>(ids: impl ExactSizeIterator<Item = &'a String>) -> IdMap {
        let mut map = IdMap::with_capacity_and_hasher(ids.len(), Default::default());
        for (k, id) in ids.enumerate() {
            map.entry(id.clone()).or_insert(k);
        }
        map
    }
}

#[derive(Clone, Debug)]
pub struct VSwitch {
    pub id: String,
    pub cidr: Ipv4Net,
    pub route_table: usize,
}

#[derive(Clone, Debug)]
pub struct RouteTable {
    pub id: String,
    pub system: bool,
    pub entries: Vec<RouteEntry>,
}

#[derive(Clone, Debug)]
pub struct RouteEntry {
    /// The entry's id, or its JSON path when the file gives none.
    pub id: String,
    pub destination: Ipv4Net,
    pub next_hop: CloudHop,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

/// Where a VRouter entry sends a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudHop {
    VpnGateway(usize),
    Instance(usize),
    /// Any other next-hop type (NAT gateway, transit router, …): leaves the modelled network.
    Other {
        kind: NextHopKind,
        id: String,
    },
    Blackhole,
}

#[derive(Clone, Debug)]
pub struct SecurityGroup {
    pub id: String,
    pub kind: SgType,
    pub inner_accept: bool,
    pub rules: Vec<SgRule>,
}

#[derive(Clone, Debug)]
pub struct SgRule {
    pub id: String,
    pub direction: Direction,
    pub action: Action,
    pub priority: u8,
    pub protocol: Protocol,
    pub ports: Ports,
    pub peer: SgPeer,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SgPeer {
    Cidr(Ipv4Net),
    Group(usize),
    Any,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub ip: Ipv4Addr,
    pub vswitch: usize,
    pub security_groups: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct VpnGateway {
    pub id: String,
    pub public_ip: Ipv4Addr,
    /// Policy routes in evaluation order: priority, then file order.
    pub policy_routes: Vec<VpnRoute>,
    pub destination_routes: Vec<VpnRoute>,
}

#[derive(Clone, Debug)]
pub struct VpnRoute {
    pub id: String,
    pub source: Option<Ipv4Net>,
    pub destination: Ipv4Net,
    pub connection: usize,
    pub priority: u8,
    pub publish_to_vpc: bool,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
pub struct CustomerGateway {
    pub id: String,
    pub ip: Ipv4Addr,
}

/// A traffic-selector pair of one SA, as address sets.
#[derive(Clone, Debug, PartialEq)]
pub struct SaSelectors {
    pub local: AddrSet,
    pub remote: AddrSet,
    pub local_cidrs: Vec<Cidr>,
    pub remote_cidrs: Vec<Cidr>,
}

impl SaSelectors {
    pub fn new(local: &[Cidr], remote: &[Cidr]) -> SaSelectors {
        SaSelectors {
            local: AddrSet::from_cidrs(local),
            remote: AddrSet::from_cidrs(remote),
            local_cidrs: local.to_vec(),
            remote_cidrs: remote.to_vec(),
        }
    }
    /// Does this SA carry a packet from `src` to `dst` leaving this end?
    pub fn covers_outbound(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.local.contains(src) && self.remote.contains(dst)
    }
    /// Does this SA accept a packet from `src` to `dst` arriving from the peer?
    pub fn covers_inbound(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.remote.contains(src) && self.local.contains(dst)
    }
    pub fn describe(&self) -> String {
        format!(
            "{} === {}",
            crate::net::addr::join_cidrs(&self.local_cidrs),
            crate::net::addr::join_cidrs(&self.remote_cidrs)
        )
    }
}

#[derive(Clone, Debug)]
pub struct Connection {
    pub id: String,
    pub vpn_gateway: usize,
    pub customer_gateway: usize,
    pub local_subnets: Vec<Cidr>,
    pub remote_subnets: Vec<Cidr>,
    pub local_set: AddrSet,
    pub remote_set: AddrSet,
    pub ike: input::Ike,
    pub ipsec: input::IpsecParams,
    pub status: ConnStatus,
    pub sas: Vec<SaSelectors>,
    /// True when `sas` was absent and one SA with the configured subnets is assumed.
    pub sas_assumed: bool,
}

impl Connection {
    pub fn established(&self) -> bool {
        self.status == ConnStatus::IpsecSaEstablished
    }
}

#[derive(Clone, Debug)]
pub struct Device {
    pub id: String,
    pub kind: DeviceKind,
    pub vendor: Option<String>,
    pub interfaces: Vec<Interface>,
    /// Listed routes, in file order; connected routes are implicit (see `trace::route`).
    pub routes: Vec<DeviceRoute>,
    pub filter: Option<Filter>,
    pub nat: Vec<NatRule>,
    pub ipsec: Vec<DeviceIpsec>,
    pub forwarding: bool,
    pub rp_filter: RpFilter,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

impl Device {
    pub fn iface(&self, name: &str) -> Option<usize> {
        self.interfaces.iter().position(|i| i.name == name)
    }
    /// Does this device own `ip` on one of its interfaces?
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.interfaces.iter().any(|i| i.addr == ip)
    }
    /// Linux netfilter semantics for invalid (asymmetric) replies: judged by the rules.
    /// Other vendors' firewalls drop a session miss.
    pub fn is_linux(&self) -> bool {
        match &self.vendor {
            None => true,
            Some(v) => {
                let v = v.to_ascii_lowercase();
                v.contains("linux")
                    || v.contains("iptables")
                    || v.contains("nftables")
                    || v.contains("strongswan")
                    || v.contains("libreswan")
            }
        }
    }
    pub fn stateful(&self) -> bool {
        self.filter.as_ref().is_none_or(|f| f.stateful)
    }
}

#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    pub addr: Ipv4Addr,
    pub net: Ipv4Net,
    pub role: Role,
    pub public_address: Option<Ipv4Addr>,
}

#[derive(Clone, Debug)]
pub struct DeviceRoute {
    pub id: String,
    pub destination: Ipv4Net,
    pub interface: Option<usize>,
    pub gateway: Option<Ipv4Addr>,
    pub tunnel: Option<usize>,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
pub struct Filter {
    pub stateful: bool,
    pub input: Option<Chain>,
    pub forward: Option<Chain>,
    pub output: Option<Chain>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChainKind {
    Input,
    Forward,
    Output,
}

impl ChainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::Input => "input",
            ChainKind::Forward => "forward",
            ChainKind::Output => "output",
        }
    }
}

impl Filter {
    pub fn chain(&self, k: ChainKind) -> Option<&Chain> {
        match k {
            ChainKind::Input => self.input.as_ref(),
            ChainKind::Forward => self.forward.as_ref(),
            ChainKind::Output => self.output.as_ref(),
        }
    }

    pub fn chain_mut(&mut self, k: ChainKind) -> Option<&mut Chain> {
        match k {
            ChainKind::Input => self.input.as_mut(),
            ChainKind::Forward => self.forward.as_mut(),
            ChainKind::Output => self.output.as_mut(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub default: Action,
    pub rules: Vec<FilterRule>,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
pub struct FilterRule {
    pub id: String,
    pub action: Action,
    pub source: Option<Ipv4Net>,
    pub destination: Option<Ipv4Net>,
    pub protocol: Protocol,
    pub source_ports: Ports,
    pub destination_ports: Ports,
    pub in_interface: Option<usize>,
    pub out_interface: Option<usize>,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

impl FilterRule {
    /// Written rule `r` lowered, named `id`, its interfaces resolved to
    /// `in_interface` and `out_interface` (positions on the device).
    pub fn lowered(
        r: &input::FilterRule,
        id: String,
        in_interface: Option<usize>,
        out_interface: Option<usize>,
    ) -> FilterRule {
        FilterRule {
            id,
            action: r.action,
            source: r.source.map(|s| s.network()),
            destination: r.destination.map(|s| s.network()),
            protocol: r.protocol,
            source_ports: r.source_ports,
            destination_ports: r.destination_ports,
            in_interface,
            out_interface,
            origin: origin(&r.origin),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NatRule {
    pub id: String,
    pub action: NatAction,
    pub source: Option<Ipv4Net>,
    pub destination: Option<Ipv4Net>,
    pub protocol: Protocol,
    pub destination_ports: Ports,
    pub in_interface: Option<usize>,
    pub out_interface: Option<usize>,
    pub to: NatTo,
    pub to_port: Option<u16>,
    /// Where the object was read from (`iptables-save.txt:14`), for imported topologies.
    pub origin: Option<Arc<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatTo {
    /// The outgoing interface's address (masquerade, Huawei easy-ip).
    Interface,
    Addr(Ipv4Addr),
    /// `no_nat` rules translate nothing.
    None,
}

#[derive(Clone, Debug)]
pub struct DeviceIpsec {
    pub connection: usize,
    pub mode: IpsecMode,
    pub interface: Option<usize>,
    pub peer: Option<Ipv4Addr>,
    pub local_subnets: Vec<Cidr>,
    pub remote_subnets: Vec<Cidr>,
    pub ike: input::Ike,
    pub ipsec: input::IpsecParams,
    pub sas: Vec<SaSelectors>,
    pub sas_assumed: bool,
    /// Index of this entry in the device's `ipsec` list (for JSON paths).
    pub index: usize,
}

/// Read and validate a topology file. Every failure names the file and where.
pub fn load(path: &Path) -> Result<Model, InputError> {
    let name = path.display().to_string();
    let text = read_text(path, &name)?;
    let topo = parse(&name, &text)?;
    lower(&name, &topo)
}

/// The file's text, or why it cannot be had.
fn read_text(path: &Path, name: &str) -> Result<String, InputError> {
    let name = name.to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| InputError::new(&name, "", format!("cannot read the topology file: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(InputError::new(
            &name,
            "",
            format!(
                "the file is {} bytes; topology files above {} bytes are refused",
                meta.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(&name, "", format!("cannot read the topology file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        InputError::new(
            &name,
            format!("byte {}", e.utf8_error().valid_up_to()),
            "expected a UTF-8 JSON topology file, found bytes that are not UTF-8 text",
        )
    })
}

/// Parse the JSON text of a topology, reporting syntax errors by line and column and
/// type errors by JSON path.
pub fn parse(file: &str, text: &str) -> Result<input::Topology, InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(
            file,
            "",
            "the file is empty; expected a JSON topology object with \"format\": 1",
        ));
    }
    if !text.trim_start().starts_with('{') {
        return Err(InputError::new(
            file,
            "line 1 column 1",
            "expected a JSON object (the topology) at the top level",
        ));
    }
    // The plain deserializer is about twice as fast as one tracking the JSON path;
    // the path is only needed for the message, so a file that fails is parsed again
    // with `serde_path_to_error`, whose result (success or failure) then stands, as if
    // it had been the only parse.
    let mut de = serde_json::Deserializer::from_str(text);
    let topo = match <input::Topology as serde::Deserialize>::deserialize(&mut de) {
        Ok(t) => t,
        Err(_) => {
            de = serde_json::Deserializer::from_str(text);
            parse_tracked(file, &mut de)?
        }
    };
    de.end().map_err(|e| {
        InputError::new(
            file,
            format!("line {} column {}", e.line(), e.column()),
            "unexpected text after the topology object",
        )
    })?;
    if topo.format != 1 {
        return Err(InputError::new(
            file,
            "format",
            format!("expected format 1, got {}", topo.format),
        ));
    }
    Ok(topo)
}

/// Deserialize tracking the JSON path, to name where a type error is.
fn parse_tracked(
    file: &str,
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
) -> Result<input::Topology, InputError> {
    match serde_path_to_error::deserialize(de) {
        Ok(t) => Ok(t),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let location = if inner.is_syntax() || inner.is_eof() || path == "." || path.is_empty()
            {
                format!("line {} column {}", inner.line(), inner.column())
            } else {
                path
            };
            let msg = strip_position(&inner.to_string());
            Err(InputError::new(file, location, msg))
        }
    }
}

/// serde_json appends " at line L column C"; the location is reported separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The file being lowered and the errors found so far, in the order lowering meets
/// them: lowering goes on after an error (with the faulty element left out of the
/// checks that depend on it) so that `validate` reports every error in one run; the
/// first is the one [`lower`] returns.
struct Ctx<'a> {
    file: &'a str,
    errors: RefCell<Vec<InputError>>,
    /// Ids of elements left out because their values did not parse: known, not dangling.
    unparsed: Option<&'a HashSet<String>>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str) -> Ctx<'a> {
        Ctx {
            file,
            errors: RefCell::new(Vec::new()),
            unparsed: None,
        }
    }
    /// Was `id` the id (or interface name) of an element left out unparsed?
    fn is_unparsed(&self, id: &str) -> bool {
        self.unparsed.is_some_and(|u| u.contains(id))
    }
    fn err(&self, path: impl Into<String>, msg: impl Into<String>) -> InputError {
        InputError::new(self.file, path, msg)
    }
    /// Record an error and go on.
    fn report(&self, path: impl Into<String>, msg: impl Into<String>) {
        self.push(self.err(path, msg));
    }
    fn push(&self, e: InputError) {
        self.errors.borrow_mut().push(e);
    }
    /// `v` when no error was recorded, else every error in the order met.
    fn finish<T>(self, v: T) -> Result<T, Vec<InputError>> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(v)
        } else {
            Err(errors)
        }
    }
}

fn index_ids<'a>(
    ctx: &Ctx,
    what: &str,
    list_path: &str,
    ids: impl Iterator<Item = &'a str>,
) -> HashMap<&'a str, usize> {
    let mut m: HashMap<&str, usize> = HashMap::with_capacity(ids.size_hint().0);
    for (i, id) in ids.enumerate() {
        if id.trim().is_empty() {
            ctx.report(
                format!("{list_path}[{i}].id"),
                format!("expected a non-empty {what} id"),
            );
            continue;
        }
        // A duplicate keeps the first holder: references resolve to it.
        if let Some(&prev) = m.get(id) {
            ctx.report(
                format!("{list_path}[{i}].id"),
                format!("duplicate {what} id `{id}` (already used by {list_path}[{prev}])"),
            );
            continue;
        }
        m.insert(id, i);
    }
    m
}

/// Look `id` up in `map`, recording an error when it is not there. `by` (who names it)
/// and `path` (where) are built only for the error, so a valid file formats no paths.
fn resolve(
    ctx: &Ctx,
    map: &impl IdLookup,
    id: &str,
    what: &str,
    by: impl FnOnce() -> String,
    path: impl FnOnce() -> String,
) -> Option<usize> {
    let found = map.position(id);
    if found.is_none() && !ctx.is_unparsed(id) {
        ctx.report(
            path(),
            format!("{what} `{id}` named by {} is not defined", by()),
        );
    }
    found
}

/// Where an object is by id: the ids of a topology being lowered, or the [`Ids`] of a
/// model being patched.
trait IdLookup {
    fn position(&self, id: &str) -> Option<usize>;
}

impl IdLookup for HashMap<&str, usize> {
    fn position(&self, id: &str) -> Option<usize> {
        self.get(id).copied()
    }
}

impl IdLookup for IdMap {
    fn position(&self, id: &str) -> Option<usize> {
        self.get(id).copied()
    }
}

/// Who holds an address: an instance or an on-prem device (indices into the model).
#[derive(Clone, Copy)]
enum Owner {
    Instance(usize),
    Device(usize),
}

/// Lower the parsed topology into the model, resolving and checking every reference.
///
/// JSON paths are formatted only when they are needed: for an error, or as the id of an
/// element that has none.
pub fn lower(file: &str, t: &input::Topology) -> Result<Model, InputError> {
    lower_all(file, t).map_err(|mut errors| errors.swap_remove(0))
}

/// [`lower`], reporting every error rather than the first: the list is in the order
/// lowering meets them (its first is the one [`lower`] returns). An element found at
/// fault is left out of the checks that depend on it, so that one fault is reported
/// once rather than again by everything that names the element.
///
/// Long because it is one pass over the cloud half of the topology in dependency order
/// (route tables, vSwitches, groups, instances, gateways, connections); the per-element
/// parts that are also used to re-lower one element live in their own functions.
pub fn lower_all(file: &str, t: &input::Topology) -> Result<Model, Vec<InputError>> {
    lower_with(file, t, &HashSet::new())
}

/// [`lower_all`], where a reference to an id in `unparsed` (an element whose values did
/// not parse, see [`validate`]) is not reported as dangling.
fn lower_with(
    file: &str,
    t: &input::Topology,
    unparsed: &HashSet<String>,
) -> Result<Model, Vec<InputError>> {
    let mut ctx = Ctx::new(file);
    ctx.unparsed = Some(unparsed);
    let c = &t.cloud;

    if c.vpc.cidrs.is_empty() {
        ctx.report("cloud.vpc.cidrs", "expected at least one VPC CIDR");
    }
    let vpc_set = AddrSet::from_cidrs(&c.vpc.cidrs);

    // Route tables and the system table.
    let rt_ids = index_ids(
        &ctx,
        "route table",
        "cloud.route_tables",
        c.route_tables.iter().map(|r| r.id.as_str()),
    );
    let marked: Vec<usize> = c
        .route_tables
        .iter()
        .enumerate()
        .filter(|(_, r)| r.system)
        .map(|(i, _)| i)
        .collect();
    for &k in marked.iter().skip(1) {
        ctx.report(
            format!("cloud.route_tables[{k}].system"),
            format!(
                "only one route table can be the VPC's system table; `{}` is marked too",
                c.route_tables[marked[0]].id
            ),
        );
    }
    // Several tables and none marked: reported once, where a vSwitch needs the system
    // table is then not reported again.
    let mut no_system_reported = false;
    let system_table = match (marked.first(), c.route_tables.len()) {
        (Some(&i), _) => Some(i),
        (None, 1) => Some(0),
        (None, 0) => None,
        (None, _) => {
            ctx.report(
                "cloud.route_tables",
                "several route tables and none marked \"system\": true; expected exactly one system table",
            );
            no_system_reported = true;
            None
        }
    };

    // vSwitches.
    let vsw_ids = index_ids(
        &ctx,
        "vSwitch",
        "cloud.vswitches",
        c.vswitches.iter().map(|v| v.id.as_str()),
    );
    // The VPC's addresses as sorted, merged, non-adjacent intervals: a prefix lies inside
    // the VPC exactly when one of them holds it.
    let vpc_intervals = vpc_set.intervals();
    let inside_vpc = |lo: u32, hi: u32| {
        let k = vpc_intervals.partition_point(|&(a, _)| a <= lo);
        k > 0 && vpc_intervals[k - 1].1 >= hi
    };
    // The vSwitches accepted so far, by first address: (last address, index). They are
    // pairwise disjoint (an overlap is refused), and two prefixes either nest or are
    // disjoint, so the ones a new prefix overlaps are the one just before it that holds
    // its first address and those starting inside it.
    let mut taken: BTreeMap<u32, (u32, usize)> = BTreeMap::new();
    let mut vswitches = Vec::with_capacity(c.vswitches.len());
    for (i, v) in c.vswitches.iter().enumerate() {
        let p = || format!("cloud.vswitches[{i}]");
        if !v.cidr.is_network() {
            ctx.report(
                format!("{}.cidr", p()),
                format!(
                    "expected a network prefix, got {} (host bits set; did you mean {}?)",
                    v.cidr,
                    v.cidr.network()
                ),
            );
        } else {
            let (lo, hi) = v.cidr.bounds();
            let holder = taken
                .range(..lo)
                .next_back()
                .filter(|(_, &(end, _))| end >= lo)
                .map(|(_, &(_, j))| j);
            let inner = taken.range(lo..=hi).map(|(_, &(_, j))| j).min();
            if !inside_vpc(lo, hi) {
                ctx.report(
                    format!("{}.cidr", p()),
                    format!(
                        "vSwitch CIDR {} is not inside the VPC CIDRs {}",
                        v.cidr,
                        crate::net::addr::join_cidrs(&c.vpc.cidrs)
                    ),
                );
            } else if let Some(j) = holder.into_iter().chain(inner).min() {
                // The first overlapping vSwitch in file order.
                let w = &c.vswitches[j];
                ctx.report(
                    format!("{}.cidr", p()),
                    format!(
                        "vSwitch CIDR {} overlaps {} of `{}` (cloud.vswitches[{j}])",
                        v.cidr, w.cidr, w.id
                    ),
                );
            } else {
                taken.insert(lo, (hi, i));
            }
        }
        let route_table = match &v.route_table {
            Some(rt) => resolve(
                &ctx,
                &rt_ids,
                rt,
                "route table",
                || format!("vSwitch `{}`", v.id),
                || format!("{}.route_table", p()),
            ),
            None => {
                if system_table.is_none() && !no_system_reported {
                    ctx.report(format!("{}.route_table", p()), format!("vSwitch `{}` names no route table and the VPC has none; expected a route table", v.id));
                }
                system_table
            }
        };
        vswitches.push(VSwitch {
            id: v.id.clone(),
            cidr: v.cidr.network(),
            // Unresolved only when an error was recorded: the model is then discarded.
            route_table: route_table.unwrap_or(0),
        });
    }

    // Security groups (peer groups resolved after all ids are known).
    let sg_ids = index_ids(
        &ctx,
        "security group",
        "cloud.security_groups",
        c.security_groups.iter().map(|s| s.id.as_str()),
    );
    let mut security_groups = Vec::with_capacity(c.security_groups.len());
    for (i, g) in c.security_groups.iter().enumerate() {
        security_groups.push(lower_security_group(&ctx, i, g, &sg_ids));
    }

    // Instances.
    let inst_ids = index_ids(
        &ctx,
        "instance",
        "cloud.instances",
        c.instances.iter().map(|v| v.id.as_str()),
    );
    let mut instances: Vec<Instance> = Vec::with_capacity(c.instances.len());
    // An address belongs to one place only: instances here, device interfaces below.
    let mut owners: BTreeMap<Ipv4Addr, Owner> = BTreeMap::new();
    for (i, inst) in c.instances.iter().enumerate() {
        let p = || format!("cloud.instances[{i}]");
        let host = inst.ip.len() == 32;
        if !host {
            ctx.report(
                format!("{}.ip", p()),
                format!(
                    "expected a host address such as \"192.168.1.10\", got {}",
                    inst.ip
                ),
            );
        }
        let by = || format!("instance `{}`", inst.id);
        let vsw = resolve(&ctx, &vsw_ids, &inst.vswitch, "vSwitch", by, || {
            format!("{}.vswitch", p())
        });
        let ip = inst.ip.addr();
        if let (true, Some(vsw)) = (host, vsw) {
            let net = vswitches[vsw].cidr;
            if !net.contains(&ip) {
                ctx.report(
                    format!("{}.ip", p()),
                    format!(
                        "instance address {ip} is outside its vSwitch `{}` ({net})",
                        vswitches[vsw].id
                    ),
                );
            } else if ip == net.network() || (net.prefix_len() < 31 && ip == net.broadcast()) {
                ctx.report(
                    format!("{}.ip", p()),
                    format!(
                        "{ip} is the network or broadcast address of {net}; expected a host address"
                    ),
                );
            } else if let Some(Owner::Instance(prev) | Owner::Device(prev)) =
                owners.insert(ip, Owner::Instance(i))
            {
                ctx.report(
                    format!("{}.ip", p()),
                    format!(
                        "address {ip} is already used by instance `{}`",
                        c.instances[prev].id
                    ),
                );
            }
        }
        let mut sgs = Vec::with_capacity(inst.security_groups.len());
        // Positions in the file's list of the groups that resolved, for paths.
        let mut at = Vec::with_capacity(inst.security_groups.len());
        for (j, s) in inst.security_groups.iter().enumerate() {
            if let Some(g) = resolve(&ctx, &sg_ids, s, "security group", by, || {
                format!("{}.security_groups[{j}]", p())
            }) {
                sgs.push(g);
                at.push(j);
            }
        }
        if let Some(&first) = sgs.first() {
            let k = security_groups[first].kind;
            if let Some(j) = sgs.iter().position(|&g| security_groups[g].kind != k) {
                ctx.report(
                    format!("{}.security_groups[{}]", p(), at[j]),
                    format!("instance `{}` mixes basic and enterprise security groups (`{}` is {:?}, `{}` is {:?}); an instance's groups must all be of one type",
                        inst.id, security_groups[first].id, k, security_groups[sgs[j]].id, security_groups[sgs[j]].kind).to_lowercase().replace(&inst.id.to_lowercase(), &inst.id),
                );
            }
        }
        instances.push(Instance {
            id: inst.id.clone(),
            ip,
            vswitch: vsw.unwrap_or(0),
            security_groups: sgs,
        });
    }

    // VPN gateways, customer gateways, connections.
    let vgw_ids = index_ids(
        &ctx,
        "VPN gateway",
        "cloud.vpn_gateways",
        c.vpn_gateways.iter().map(|v| v.id.as_str()),
    );
    let cgw_ids = index_ids(
        &ctx,
        "customer gateway",
        "cloud.customer_gateways",
        c.customer_gateways.iter().map(|v| v.id.as_str()),
    );
    let conn_ids = index_ids(
        &ctx,
        "IPsec connection",
        "cloud.ipsec_connections",
        c.ipsec_connections.iter().map(|v| v.id.as_str()),
    );

    let mut customer_gateways = Vec::with_capacity(c.customer_gateways.len());
    for (i, g) in c.customer_gateways.iter().enumerate() {
        if g.ip.len() != 32 {
            ctx.report(
                format!("cloud.customer_gateways[{i}].ip"),
                format!("expected a host address, got {}", g.ip),
            );
        }
        customer_gateways.push(CustomerGateway {
            id: g.id.clone(),
            ip: g.ip.addr(),
        });
    }

    let mut connections = Vec::with_capacity(c.ipsec_connections.len());
    // Each connection's VPN gateway, when it resolved.
    let mut conn_gateway: Vec<Option<usize>> = Vec::with_capacity(c.ipsec_connections.len());
    for (i, k) in c.ipsec_connections.iter().enumerate() {
        let p = || format!("cloud.ipsec_connections[{i}]");
        let by = || format!("connection `{}`", k.id);
        let vg = resolve(&ctx, &vgw_ids, &k.vpn_gateway, "VPN gateway", by, || {
            format!("{}.vpn_gateway", p())
        });
        let cg = resolve(
            &ctx,
            &cgw_ids,
            &k.customer_gateway,
            "customer gateway",
            by,
            || format!("{}.customer_gateway", p()),
        );
        if k.local_subnets.is_empty() {
            ctx.report(
                format!("{}.local_subnets", p()),
                "expected at least one local subnet",
            );
        }
        if k.remote_subnets.is_empty() {
            ctx.report(
                format!("{}.remote_subnets", p()),
                "expected at least one remote subnet",
            );
        }
        let status = k.status.unwrap_or(ConnStatus::IpsecSaEstablished);
        let (sas, assumed) = lower_sas(
            &k.sas,
            &k.local_subnets,
            &k.remote_subnets,
            status == ConnStatus::IpsecSaEstablished,
        );
        conn_gateway.push(vg);
        connections.push(Connection {
            id: k.id.clone(),
            vpn_gateway: vg.unwrap_or(0),
            customer_gateway: cg.unwrap_or(0),
            local_set: AddrSet::from_cidrs(&k.local_subnets),
            remote_set: AddrSet::from_cidrs(&k.remote_subnets),
            local_subnets: k.local_subnets.clone(),
            remote_subnets: k.remote_subnets.clone(),
            ike: k.ike.clone(),
            ipsec: k.ipsec.clone(),
            status,
            sas,
            sas_assumed: assumed,
        });
    }

    let mut vpn_gateways = Vec::with_capacity(c.vpn_gateways.len());
    for (i, g) in c.vpn_gateways.iter().enumerate() {
        let p = || format!("cloud.vpn_gateways[{i}]");
        if g.public_ip.len() != 32 {
            ctx.report(
                format!("{}.public_ip", p()),
                format!("expected a host address, got {}", g.public_ip),
            );
        }
        let mut policy = Vec::new();
        let mut dest = Vec::new();
        for (j, r) in g.routes.iter().enumerate() {
            let rp = || format!("{}.routes[{j}]", p());
            let conn = resolve(
                &ctx,
                &conn_ids,
                &r.next_hop,
                "IPsec connection",
                || format!("VPN gateway route {}", rp()),
                || format!("{}.next_hop", rp()),
            );
            if let Some(owner) = conn.and_then(|k| conn_gateway[k]).filter(|&o| o != i) {
                ctx.report(
                    format!("{}.next_hop", rp()),
                    format!(
                        "connection `{}` belongs to VPN gateway `{}`, not `{}`",
                        r.next_hop, c.vpn_gateways[owner].id, g.id
                    ),
                );
            }
            let route = VpnRoute {
                id: r.id.clone().unwrap_or_else(rp),
                source: r.source.map(|s| s.network()),
                destination: r.destination.network(),
                connection: conn.unwrap_or(0),
                priority: r.priority,
                publish_to_vpc: r.publish_to_vpc,
                origin: origin(&r.origin),
            };
            match r.kind {
                input::VpnRouteType::Policy => {
                    if r.source.is_none() {
                        ctx.report(
                            format!("{}.source", rp()),
                            "a policy route needs a source CIDR",
                        );
                    }
                    policy.push(route)
                }
                input::VpnRouteType::Destination => {
                    if r.source.is_some() {
                        ctx.report(format!("{}.source", rp()), "a destination route has no source; use type \"policy\" to route by source");
                    }
                    dest.push(route)
                }
            }
        }
        // Stable sort: equal priorities keep file order.
        policy.sort_by_key(|r| r.priority);
        vpn_gateways.push(VpnGateway {
            id: g.id.clone(),
            public_ip: g.public_ip.addr(),
            policy_routes: policy,
            destination_routes: dest,
        });
    }

    // Route table entries (need instance and VPN gateway ids).
    let mut route_tables = Vec::with_capacity(c.route_tables.len());
    for (i, t) in c.route_tables.iter().enumerate() {
        let system = Some(i) == system_table;
        route_tables.push(lower_route_table(&ctx, i, t, system, &vgw_ids, &inst_ids));
    }

    // On-prem devices (their ids are checked for duplicates; nothing names a device).
    index_ids(
        &ctx,
        "device",
        "onprem.devices",
        t.onprem.devices.iter().map(|d| d.id.as_str()),
    );
    let mut devices = Vec::with_capacity(t.onprem.devices.len());
    for (i, d) in t.onprem.devices.iter().enumerate() {
        devices.push(lower_device(&ctx, i, d, &conn_ids));
    }
    // An address belongs to one place only.
    for (i, d) in devices.iter().enumerate() {
        for (j, f) in d.interfaces.iter().enumerate() {
            if let Some(prev) = owners.insert(f.addr, Owner::Device(i)) {
                let prev = match prev {
                    Owner::Instance(k) => format!("instance `{}`", instances[k].id),
                    Owner::Device(k) => format!("device `{}`", devices[k].id),
                };
                ctx.report(
                    format!("onprem.devices[{i}].interfaces[{j}].address"),
                    format!(
                        "address {} of `{}` {} is already used by {prev}",
                        f.addr, d.id, f.name
                    ),
                );
            }
        }
    }

    let model = Model {
        name: t.name.clone(),
        vpc_id: c.vpc.id.clone(),
        vpc_cidrs: c.vpc.cidrs.clone(),
        vpc_set,
        vswitches: Arc::new(vswitches),
        route_tables: Arc::new(route_tables.into_iter().map(Arc::new).collect()),
        system_table,
        security_groups: Arc::new(security_groups.into_iter().map(Arc::new).collect()),
        instances_by_ip: Arc::new({
            let mut v: Vec<(Ipv4Addr, usize)> = instances
                .iter()
                .enumerate()
                .map(|(k, x)| (x.ip, k))
                .collect();
            v.sort_unstable();
            v
        }),
        instances: Arc::new(instances),
        vpn_gateways: Arc::new(vpn_gateways),
        customer_gateways: Arc::new(customer_gateways),
        connections: Arc::new(connections),
        devices: PerItem::new(devices.into_iter().map(Arc::new).collect()),
        flows: t.flows.clone(),
        ids: Arc::default(),
    };
    ctx.finish(model)
}

fn lower_sas(
    sas: &Option<Vec<input::Sa>>,
    local: &[Cidr],
    remote: &[Cidr],
    established: bool,
) -> (Vec<SaSelectors>, bool) {
    match sas {
        Some(list) => (
            list.iter()
                .map(|s| SaSelectors::new(&s.local, &s.remote))
                .collect(),
            false,
        ),
        None if established => (vec![SaSelectors::new(local, remote)], true),
        None => (Vec::new(), false),
    }
}

/// One security group (`cloud.security_groups[i]`); `sg_ids` resolves peer groups.
fn lower_security_group(
    ctx: &Ctx,
    i: usize,
    g: &input::SecurityGroup,
    sg_ids: &impl IdLookup,
) -> SecurityGroup {
    let p = || format!("cloud.security_groups[{i}]");
    if g.kind == SgType::Enterprise && g.inner_access.is_some() {
        ctx.report(format!("{}.inner_access", p()), "inner_access applies to basic security groups only; enterprise groups never allow inner access implicitly");
    }
    let mut rules = Vec::with_capacity(g.rules.len());
    for (j, r) in g.rules.iter().enumerate() {
        let rp = || format!("{}.rules[{j}]", p());
        let peer = match (&r.peer, &r.peer_group) {
            (Some(c), Some(_)) => {
                ctx.report(rp(), "a rule has either `peer` or `peer_group`, not both");
                SgPeer::Cidr(c.network())
            }
            (Some(c), None) => SgPeer::Cidr(c.network()),
            (None, Some(gid)) => {
                if g.kind == SgType::Enterprise {
                    ctx.report(format!("{}.peer_group", rp()), format!("enterprise security group `{}` cannot use peer_group (Alibaba Cloud allows security-group authorisation in basic groups only); use a CIDR peer", g.id));
                    SgPeer::Any
                } else {
                    resolve(
                        ctx,
                        sg_ids,
                        gid,
                        "security group",
                        || format!("rule {}", rp()),
                        || format!("{}.peer_group", rp()),
                    )
                    .map_or(SgPeer::Any, SgPeer::Group)
                }
            }
            (None, None) => SgPeer::Any,
        };
        rules.push(SgRule {
            id: r.id.clone().unwrap_or_else(rp),
            direction: r.direction,
            action: r.policy,
            priority: r.priority,
            protocol: r.protocol,
            ports: r.ports,
            peer,
            origin: origin(&r.origin),
        });
    }
    SecurityGroup {
        id: g.id.clone(),
        kind: g.kind,
        inner_accept: g.inner_access.unwrap_or(Action::Accept) == Action::Accept,
        rules,
    }
}

/// One route table (`cloud.route_tables[i]`); the maps resolve next-hop ids.
fn lower_route_table(
    ctx: &Ctx,
    i: usize,
    t: &input::RouteTable,
    system: bool,
    vgw_ids: &impl IdLookup,
    inst_ids: &impl IdLookup,
) -> RouteTable {
    let mut entries = Vec::with_capacity(t.entries.len());
    for (j, e) in t.entries.iter().enumerate() {
        let ep = || format!("cloud.route_tables[{i}].entries[{j}]");
        let hid = e.next_hop.id.as_deref();
        let need_id = |what: &str| {
            if hid.is_none() {
                ctx.report(
                    format!("{}.next_hop.id", ep()),
                    format!("a next hop of type {what} needs an id"),
                );
            }
            hid
        };
        let by = || format!("route entry {}", ep());
        let at = || format!("{}.next_hop.id", ep());
        let next_hop = match e.next_hop.kind {
            // An unresolved hop is recorded as an error; the model is then discarded.
            NextHopKind::VpnGateway => need_id("vpn_gateway")
                .and_then(|id| resolve(ctx, vgw_ids, id, "VPN gateway", by, at))
                .map_or(CloudHop::Blackhole, CloudHop::VpnGateway),
            NextHopKind::Instance => need_id("instance")
                .and_then(|id| resolve(ctx, inst_ids, id, "instance", by, at))
                .map_or(CloudHop::Blackhole, CloudHop::Instance),
            NextHopKind::Blackhole => CloudHop::Blackhole,
            k => CloudHop::Other {
                kind: k,
                id: hid.map(str::to_string).unwrap_or_default(),
            },
        };
        entries.push(RouteEntry {
            id: e.id.clone().unwrap_or_else(ep),
            destination: e.destination.network(),
            next_hop,
            origin: origin(&e.origin),
        });
    }
    RouteTable {
        id: t.id.clone(),
        system,
        entries,
    }
}

impl Model {
    /// The instances with an address inside `set`, in address order.
    pub fn instances_in(&self, set: &AddrSet) -> impl Iterator<Item = usize> + '_ {
        let v = &self.instances_by_ip;
        set.intervals().into_iter().flat_map(move |(lo, hi)| {
            let start = v.partition_point(|&(ip, _)| u32::from(ip) < lo);
            v[start..]
                .iter()
                .take_while(move |&&(ip, _)| u32::from(ip) <= hi)
                .map(|&(_, k)| k)
        })
    }

    /// This model with security group `i` replaced by `g`, lowered as [`lower`] does
    /// (for verifying a fix without lowering the whole topology again).
    pub fn with_security_group(
        &self,
        i: usize,
        g: &input::SecurityGroup,
    ) -> Result<Model, InputError> {
        let ctx = Ctx::new("(fixed)");
        let lowered = lower_security_group(&ctx, i, g, &self.ids().security_groups);
        let lowered = ctx.finish(lowered).map_err(|mut e| e.swap_remove(0))?;
        let mut m = self.clone();
        Arc::make_mut(&mut m.security_groups)[i] = Arc::new(lowered);
        Ok(m)
    }

    /// This model with route table `i` replaced by `t`, lowered as [`lower`] does.
    pub fn with_route_table(&self, i: usize, t: &input::RouteTable) -> Result<Model, InputError> {
        let ctx = Ctx::new("(fixed)");
        let ids = self.ids();
        let system = self.route_tables[i].system;
        let lowered = lower_route_table(&ctx, i, t, system, &ids.vpn_gateways, &ids.instances);
        let lowered = ctx.finish(lowered).map_err(|mut e| e.swap_remove(0))?;
        let mut m = self.clone();
        Arc::make_mut(&mut m.route_tables)[i] = Arc::new(lowered);
        Ok(m)
    }

    /// This model with on-prem device `i` replaced by `d`, already lowered (the caller
    /// changed a copy of the lowered device as lowering the changed device would).
    pub fn with_lowered_device(&self, i: usize, d: Device) -> Model {
        let mut m = self.clone();
        m.devices.set(i, Arc::new(d));
        m
    }

    /// This model with on-prem device `i` replaced by `d` (its interfaces unchanged),
    /// lowered as [`lower`] does.
    pub fn with_device(&self, i: usize, d: &input::Device) -> Result<Model, InputError> {
        let ctx = Ctx::new("(fixed)");
        let lowered = lower_device(&ctx, i, d, &self.ids().connections);
        let lowered = ctx.finish(lowered).map_err(|mut e| e.swap_remove(0))?;
        let mut m = self.clone();
        m.devices.set(i, Arc::new(lowered));
        Ok(m)
    }
}

fn lower_device(ctx: &Ctx, i: usize, d: &input::Device, conn_ids: &impl IdLookup) -> Device {
    let p = || format!("onprem.devices[{i}]");
    let mut interfaces: Vec<Interface> = Vec::with_capacity(d.interfaces.len());
    // Interface name → index, for duplicate names and for the references below.
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (j, f) in d.interfaces.iter().enumerate() {
        let fp = || format!("{}.interfaces[{j}]", p());
        // A nameless or duplicate interface is kept (its address still counts) but
        // cannot be named.
        let mut named = true;
        if f.name.trim().is_empty() {
            ctx.report(
                format!("{}.name", fp()),
                "expected a non-empty interface name",
            );
            named = false;
        } else if let Some(&k) = by_name.get(f.name.as_str()) {
            named = false;
            ctx.report(
                format!("{}.name", fp()),
                format!(
                    "duplicate interface name `{}` on device `{}` (already {}.interfaces[{k}])",
                    f.name,
                    d.id,
                    p()
                ),
            );
        }
        let net = f.address.network();
        let a = f.address.addr();
        let len = f.address.len();
        if len < 31 && (a == net.network() || a == net.broadcast()) {
            ctx.report(
                format!("{}.address", fp()),
                format!("interface address {} is the {} address of its subnet; expected a host address such as {}/{}",
                    f.address,
                    if a == net.network() { "network" } else { "broadcast" },
                    Ipv4Addr::from(u32::from(net.network()) + 1),
                    len),
            );
        }
        if named {
            by_name.insert(&f.name, j);
        }
        interfaces.push(Interface {
            name: f.name.clone(),
            addr: a,
            net,
            role: f.role.unwrap_or(Role::Inside),
            public_address: f.public_address.map(|c| c.addr()),
        });
    }
    // Resolve an interface name given as `Some`, recording an error when it is unknown.
    let iface = |name: &Option<String>, path: &dyn Fn() -> String| -> Option<usize> {
        let name = name.as_deref()?;
        let found = by_name.get(name).copied();
        if found.is_none() && !ctx.is_unparsed(name) {
            let known: Vec<&str> = interfaces.iter().map(|x| x.name.as_str()).collect();
            ctx.report(
                path(),
                format!(
                    "interface `{name}` is not defined on device `{}` (it has: {})",
                    d.id,
                    if known.is_empty() {
                        "no interfaces".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        found
    };
    let conn = |id: &str, path: &dyn Fn() -> String| {
        resolve(
            ctx,
            conn_ids,
            id,
            "IPsec connection",
            || format!("device `{}`", d.id),
            path,
        )
    };

    let mut routes = Vec::with_capacity(d.routes.len());
    for (j, r) in d.routes.iter().enumerate() {
        let rp = || format!("{}.routes[{j}]", p());
        let interface = iface(&r.interface, &|| format!("{}.interface", rp()));
        let tunnel = match &r.tunnel {
            Some(t) => conn(t, &|| format!("{}.tunnel", rp())),
            None => None,
        };
        if r.interface.is_none() && r.gateway.is_none() && r.tunnel.is_none() {
            ctx.report(rp(), "a route needs an interface, a gateway or a tunnel");
        }
        if let Some(g) = r.gateway {
            if g.len() != 32 {
                ctx.report(
                    format!("{}.gateway", rp()),
                    format!("expected a gateway host address, got {g}"),
                );
            }
        }
        routes.push(DeviceRoute {
            id: r.id.clone().unwrap_or_else(rp),
            destination: r.destination.network(),
            interface,
            gateway: r.gateway.map(|g| g.addr()),
            tunnel,
            origin: origin(&r.origin),
        });
    }

    let filter = match &d.filter {
        None => None,
        Some(f) => {
            let chain = |c: &Option<input::Chain>, name: &str| -> Option<Chain> {
                let c = c.as_ref()?;
                let mut rules = Vec::with_capacity(c.rules.len());
                for (j, r) in c.rules.iter().enumerate() {
                    let rp = || format!("{}.filter.{name}.rules[{j}]", p());
                    rules.push(FilterRule::lowered(
                        r,
                        r.id.clone().unwrap_or_else(rp),
                        iface(&r.in_interface, &|| format!("{}.in_interface", rp())),
                        iface(&r.out_interface, &|| format!("{}.out_interface", rp())),
                    ));
                }
                Some(Chain {
                    default: c.default,
                    rules,
                    origin: origin(&c.origin),
                })
            };
            Some(Filter {
                stateful: f.stateful,
                input: chain(&f.input, "input"),
                forward: chain(&f.forward, "forward"),
                output: chain(&f.output, "output"),
            })
        }
    };

    let mut nat = Vec::with_capacity(d.nat.len());
    for (j, r) in d.nat.iter().enumerate() {
        let np = || format!("{}.nat[{j}]", p());
        let to = match (r.action, r.to.as_deref()) {
            (NatAction::NoNat, _) => NatTo::None,
            (NatAction::SourceNat, None) | (NatAction::SourceNat, Some("interface")) => {
                NatTo::Interface
            }
            (NatAction::DestinationNat, None) | (NatAction::DestinationNat, Some("interface")) => {
                ctx.report(
                    format!("{}.to", np()),
                    "destination NAT needs `to`: the address to translate to",
                );
                NatTo::None
            }
            (_, Some(a)) => match a.parse::<Ipv4Addr>() {
                Ok(a) => NatTo::Addr(a),
                Err(_) => {
                    ctx.report(
                        format!("{}.to", np()),
                        format!("expected \"interface\" or an IPv4 address, got {a:?}"),
                    );
                    NatTo::None
                }
            },
        };
        nat.push(NatRule {
            id: r.id.clone().unwrap_or_else(np),
            action: r.action,
            source: r.source.map(|s| s.network()),
            destination: r.destination.map(|s| s.network()),
            protocol: r.protocol,
            destination_ports: r.destination_ports,
            in_interface: iface(&r.in_interface, &|| format!("{}.in_interface", np())),
            out_interface: iface(&r.out_interface, &|| format!("{}.out_interface", np())),
            to,
            to_port: r.to_port,
            origin: origin(&r.origin),
        });
    }

    let mut ipsec = Vec::with_capacity(d.ipsec.len());
    for (j, e) in d.ipsec.iter().enumerate() {
        let ep = || format!("{}.ipsec[{j}]", p());
        let c = conn(&e.connection, &|| format!("{}.connection", ep()));
        let interface = iface(&e.interface, &|| format!("{}.interface", ep()));
        if e.mode == IpsecMode::Policy && e.interface.is_none() {
            ctx.report(format!("{}.interface", ep()), "policy-mode IPsec needs `interface`: the outside interface whose packets are matched against the SAs");
        }
        if let Some(peer) = e.peer {
            if peer.len() != 32 {
                ctx.report(
                    format!("{}.peer", ep()),
                    format!("expected the VPN gateway's public address, got {peer}"),
                );
            }
        }
        let (sas, assumed) = lower_sas(&e.sas, &e.local_subnets, &e.remote_subnets, true);
        ipsec.push(DeviceIpsec {
            // Unresolved only when an error was recorded: the model is then discarded.
            connection: c.unwrap_or(0),
            mode: e.mode,
            interface,
            peer: e.peer.map(|p| p.addr()),
            local_subnets: e.local_subnets.clone(),
            remote_subnets: e.remote_subnets.clone(),
            ike: e.ike.clone(),
            ipsec: e.ipsec.clone(),
            sas,
            sas_assumed: assumed,
            index: j,
        });
    }

    Device {
        id: d.id.clone(),
        kind: d.kind,
        vendor: d.vendor.clone(),
        interfaces,
        routes,
        filter,
        nat,
        ipsec,
        forwarding: d.forwarding.unwrap_or(true),
        rp_filter: d.rp_filter.unwrap_or_default(),
        origin: origin(&d.origin),
    }
}

/// An imported object's `origin`, shared by the lowered object and its fixed variants.
fn origin(o: &Option<String>) -> Option<Arc<str>> {
    o.as_deref().map(Arc::from)
}

/// Which way the traffic was initiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowDirection {
    CloudToOnprem,
    OnpremToCloud,
}

impl FlowDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::CloudToOnprem => "cloud_to_onprem",
            FlowDirection::OnpremToCloud => "onprem_to_cloud",
        }
    }
    /// "VPC→IDC" / "IDC→VPC", as an engineer says it.
    pub fn arrow(self) -> &'static str {
        match self {
            FlowDirection::CloudToOnprem => "VPC→IDC",
            FlowDirection::OnpremToCloud => "IDC→VPC",
        }
    }
    /// The FAQ case for a reachability failure of a flow started this way.
    pub fn faq(self) -> u8 {
        match self {
            FlowDirection::CloudToOnprem => 3,
            FlowDirection::OnpremToCloud => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const MINIMAL: &str = r#"{
      "format": 1, "name": "t",
      "cloud": {
        "vpc": {"id": "vpc-1", "cidrs": ["192.168.1.0/24"]},
        "vswitches": [{"id": "vsw-1", "cidr": "192.168.1.0/24"}],
        "route_tables": [{"id": "vtb-1", "entries": []}],
        "security_groups": [{"id": "sg-1", "rules": []}],
        "instances": [{"id": "ecs-1", "ip": "192.168.1.10", "vswitch": "vsw-1", "security_groups": ["sg-1"]}]
      }
    }"#;

    fn lower_str(s: &str) -> Result<Model, InputError> {
        let t = parse("t.json", s)?;
        lower("t.json", &t)
    }

    #[test]
    fn minimal_topology_lowers() {
        let m = lower_str(MINIMAL).unwrap();
        assert_eq!(m.system_table, Some(0));
        assert_eq!(m.vswitches[0].route_table, 0);
    }

    #[test]
    fn dangling_security_group_names_the_path() {
        let s = MINIMAL.replace(
            r#""security_groups": ["sg-1"]"#,
            r#""security_groups": ["sg-9"]"#,
        );
        let e = lower_str(&s).unwrap_err();
        assert_eq!(e.location, "cloud.instances[0].security_groups[0]");
        assert!(e.message.contains("security group `sg-9`"), "{e}");
        assert!(e.message.contains("not defined"), "{e}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse("t.json", "{\n  \"format\": 1,\n  oops }").unwrap_err();
        assert!(e.location.starts_with("line 3 column"), "{e}");
    }

    #[test]
    fn bad_cidr_names_the_path() {
        let s = MINIMAL.replace("192.168.1.10", "192.168.1.300");
        let e = lower_str(&s).unwrap_err();
        assert_eq!(e.location, "cloud.instances[0].ip");
        assert!(e.message.contains("expected an IPv4 address"), "{e}");
    }

    #[test]
    fn instance_outside_vswitch_is_refused() {
        let s = MINIMAL.replace("192.168.1.10", "192.168.2.10");
        let e = lower_str(&s).unwrap_err();
        assert!(e.message.contains("outside its vSwitch"), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        let e = parse("t.json", &deep).unwrap_err();
        assert!(e.message.contains("expected a JSON object"), "{e}");
        let deep = format!("{{\"format\": 1, \"x\": {}", "{\"a\":".repeat(100_000));
        let e = parse("t.json", &deep).unwrap_err();
        assert!(!e.message.is_empty());
        let deep = format!(
            "{{\"format\": 1, \"name\": \"n\", \"cloud\": {}",
            "[".repeat(100_000)
        );
        let e = parse("t.json", &deep).unwrap_err();
        assert!(!e.message.is_empty(), "{e}");
    }
}

/// One part per item (device, route table), shared between a model or index and those of
/// fixed models built from it: every item's part in one shared vector, and the part a
/// fix rebuilt, so that patching one item copies no vector.
#[derive(Clone)]
pub struct PerItem<T> {
    all: Arc<Vec<Arc<T>>>,
    patch: Option<(usize, Arc<T>)>,
}

impl<T> PerItem<T> {
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Every item's part, in order (the patch in its place).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<T>> + ExactSizeIterator + '_ {
        (0..self.all.len()).map(move |i| &self[i])
    }

    pub fn new(all: Vec<Arc<T>>) -> PerItem<T> {
        PerItem {
            all: Arc::new(all),
            patch: None,
        }
    }

    /// Replace item `i`'s part (a second patched item folds the first into a new vector).
    pub fn set(&mut self, i: usize, part: Arc<T>) {
        if let Some((k, old)) = self.patch.take() {
            if k != i {
                let mut all = (*self.all).clone();
                all[k] = old;
                self.all = Arc::new(all);
            }
        }
        self.patch = Some((i, part));
    }
}

/// As the list of every item's part (the patch in its place).
impl<T: std::fmt::Debug> std::fmt::Debug for PerItem<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.all.len()).map(|i| &self[i]))
            .finish()
    }
}

impl<T> std::ops::Index<usize> for PerItem<T> {
    type Output = Arc<T>;
    fn index(&self, i: usize) -> &Arc<T> {
        match &self.patch {
            Some((k, part)) if *k == i => part,
            _ => &self.all[i],
        }
    }
}
