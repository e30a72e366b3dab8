//! IKE and IPsec algorithm vocabulary, normalised across the ways people write it.
//!
//! One value type per transform ([`Encryption`], [`Integrity`] (also used for the PRF),
//! [`DhGroup`], [`KeyExchange`] for PFS) parses every spelling vpntrace meets:
//!
//! - Alibaba Cloud API values: `aes` (= AES-128), `aes192`, `aes256`, `3des`, `des`,
//!   `sm4`; `md5`, `sha1`, `sha256`, `sha384`, `sha512`, `sm3`; `group1`…`group24`;
//!   `disabled` for `IpsecPfs`.
//! - strongSwan proposal keywords (`aes128`, `aes256gcm16`, `sha256`, `prfsha384`,
//!   `modp2048`, `ecp384`, `curve25519`) and whole proposals
//!   ([`Proposal::parse_swan`]: `aes256-sha256-modp2048`, `aes256gcm16-prfsha384-ecp384`).
//! - strongSwan log names (`AES_CBC_256`, `HMAC_SHA2_256_128`, `PRF_HMAC_SHA2_256`,
//!   `MODP_2048`, `ECP_384`) and logged proposals ([`Proposal::parse_log`]).
//! - Vendor CLI spellings: Cisco `aes-256`, `esp-aes 256`, `sha-256`, `esp-sha-hmac`,
//!   `group 14`; Huawei `aes-256`, `sha2-256`, `dh group14`; Juniper `aes-256-cbc`,
//!   `hmac-sha-256-128`.
//!
//! `Display` prints the Alibaba name where Alibaba has one (so a fix can be pasted into
//! the API), otherwise the strongSwan keyword. [`Encryption::log_name`] and friends print
//! what strongSwan writes in its logs, so expected log lines can be predicted.
//!
//! A side's configuration is a list of [`Proposal`]s; each proposal lists acceptable
//! algorithms per transform, and any combination of them is acceptable. Two sides agree
//! when some proposal pair has a common algorithm in every transform;
//! [`negotiate`] picks one the way strongSwan's responder does (its own configured order
//! first), or says which transform has nothing in common ([`NoMatch`]).
//!
//! Unknown names are an `Err(String)` that quotes the value; the caller reports it.

use std::fmt;

/// Splits `AES_CBC_256`, `aes-256`, `aes256gcm16`, `sha2_256` into lowercase letter and
/// digit runs: `[aes, cbc, 256]`, `[aes, 256]`, `[aes, 256, gcm, 16]`, `[sha, 2, 256]`.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    for ch in s.chars() {
        let ch = ch.to_ascii_lowercase();
        if ch.is_ascii_alphanumeric() {
            let d = ch.is_ascii_digit();
            if !cur.is_empty() && d != cur_digit {
                out.push(std::mem::take(&mut cur));
            }
            cur_digit = d;
            cur.push(ch);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The tokens of `s` without the filler words in `drop`, concatenated: the lookup key.
fn key(s: &str, drop: &[&str]) -> (Vec<String>, String) {
    let toks: Vec<String> = tokens(s)
        .into_iter()
        .filter(|t| !drop.contains(&t.as_str()))
        .collect();
    let k = toks.concat();
    (toks, k)
}

// ---------------------------------------------------------------------------------------
// Encryption
// ---------------------------------------------------------------------------------------

/// A phase-1 or phase-2 encryption algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encryption {
    Des,
    TripleDes,
    /// AES-CBC with a 128-bit key: Alibaba's `aes`.
    Aes128,
    Aes192,
    Aes256,
    /// AES-GCM (an AEAD: no separate integrity algorithm). `key` in bits, `icv` in bytes
    /// (8, 12 or 16), as strongSwan's `aes256gcm16`.
    AesGcm {
        key: u16,
        icv: u8,
    },
    ChaCha20Poly1305,
    /// The Chinese SM4 block cipher (Alibaba's SM / 国密 gateways).
    Sm4,
}

impl Encryption {
    /// Parses any supported spelling; see the module documentation.
    pub fn parse(s: &str) -> Result<Encryption, String> {
        let (toks, k) = key(s, &["esp", "ike", "cbc", "enc"]);
        if toks.iter().any(|t| t == "gcm") {
            return parse_gcm(&toks)
                .ok_or_else(|| format!("unknown encryption algorithm `{}`", s.trim()));
        }
        Ok(match k.as_str() {
            "aes" | "aes128" => Encryption::Aes128,
            "aes192" => Encryption::Aes192,
            "aes256" => Encryption::Aes256,
            "3des" | "des3" | "tripledes" | "desede" | "3desede" | "des3ede" => {
                Encryption::TripleDes
            }
            "des" | "des56" => Encryption::Des,
            "sm4" => Encryption::Sm4,
            "chacha20poly1305" => Encryption::ChaCha20Poly1305,
            _ => return Err(format!("unknown encryption algorithm `{}`", s.trim())),
        })
    }

    /// True for AEAD ciphers, which carry their own integrity protection.
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Encryption::AesGcm { .. } | Encryption::ChaCha20Poly1305
        )
    }

    /// The value of Alibaba's `IkeEncAlg` / `IpsecEncAlg`, where Alibaba supports it.
    pub fn alibaba_name(self) -> Option<&'static str> {
        match self {
            Encryption::Des => Some("des"),
            Encryption::TripleDes => Some("3des"),
            Encryption::Aes128 => Some("aes"),
            Encryption::Aes192 => Some("aes192"),
            Encryption::Aes256 => Some("aes256"),
            Encryption::Sm4 => Some("sm4"),
            Encryption::AesGcm { .. } | Encryption::ChaCha20Poly1305 => None,
        }
    }

    /// The strongSwan proposal keyword (`aes128`, `aes256gcm16`).
    pub fn swan_name(self) -> String {
        match self {
            Encryption::Des => "des".into(),
            Encryption::TripleDes => "3des".into(),
            Encryption::Aes128 => "aes128".into(),
            Encryption::Aes192 => "aes192".into(),
            Encryption::Aes256 => "aes256".into(),
            Encryption::AesGcm { key, icv } => format!("aes{key}gcm{icv}"),
            Encryption::ChaCha20Poly1305 => "chacha20poly1305".into(),
            Encryption::Sm4 => "sm4".into(),
        }
    }

    /// The name in strongSwan's logs (`AES_CBC_256`, `AES_GCM_16_256`).
    pub fn log_name(self) -> String {
        match self {
            Encryption::Des => "DES_CBC".into(),
            Encryption::TripleDes => "3DES_CBC".into(),
            Encryption::Aes128 => "AES_CBC_128".into(),
            Encryption::Aes192 => "AES_CBC_192".into(),
            Encryption::Aes256 => "AES_CBC_256".into(),
            Encryption::AesGcm { key, icv } => format!("AES_GCM_{icv}_{key}"),
            Encryption::ChaCha20Poly1305 => "CHACHA20_POLY1305".into(),
            Encryption::Sm4 => "SM4_CBC".into(),
        }
    }
}

/// `[aes, 256, gcm, 16]` (strongSwan), `[aes, gcm, 16, 256]` (log), `[aes, gcm, 256]`
/// (Cisco), `[gcm, 256]` (Cisco `esp-gcm 256`). Digits before `gcm` are the key size;
/// after it, an ICV size (8/12/16 bytes or 64/96/128 bits) comes first, then a key size.
fn parse_gcm(toks: &[String]) -> Option<Encryption> {
    let mut key: Option<u16> = None;
    let mut icv: Option<u8> = None;
    let mut after_gcm = false;
    for t in toks {
        match t.as_str() {
            "aes" => {}
            "gcm" => after_gcm = true,
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u16 = n.parse().ok()?;
                if !after_gcm {
                    if key.is_some() || !matches!(v, 128 | 192 | 256) {
                        return None;
                    }
                    key = Some(v);
                    continue;
                }
                let as_icv = match v {
                    8 | 12 | 16 => Some(v as u8),
                    64 | 96 => Some((v / 8) as u8),
                    128 if key.is_some() => Some(16),
                    _ => None,
                };
                match (as_icv, icv) {
                    (Some(i), None) => icv = Some(i),
                    _ if matches!(v, 128 | 192 | 256) && key.is_none() => key = Some(v),
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    Some(Encryption::AesGcm {
        key: key.unwrap_or(128),
        icv: icv.unwrap_or(16),
    })
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.alibaba_name() {
            Some(n) => f.write_str(n),
            None => f.write_str(&self.swan_name()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Integrity (and PRF)
// ---------------------------------------------------------------------------------------

/// An integrity (HMAC) algorithm; the same hash names a PRF in IKE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Integrity {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    AesXcbc,
    AesCmac,
    /// The Chinese SM3 hash (Alibaba's SM / 国密 gateways).
    Sm3,
}

impl Integrity {
    /// Parses an integrity algorithm in any supported spelling.
    pub fn parse(s: &str) -> Result<Integrity, String> {
        Integrity::lookup(s, &["esp", "ike", "ah", "hmac", "auth"])
            .ok_or_else(|| format!("unknown integrity algorithm `{}`", s.trim()))
    }

    /// Parses a PRF: strongSwan `prfsha256`, log `PRF_HMAC_SHA2_256`, or a bare hash.
    pub fn parse_prf(s: &str) -> Result<Integrity, String> {
        let t = s.trim().to_ascii_lowercase();
        let bare = t.strip_prefix("prf").unwrap_or(&t);
        Integrity::lookup(bare, &["prf", "ike", "hmac"])
            .ok_or_else(|| format!("unknown PRF `{}`", s.trim()))
    }

    fn lookup(s: &str, drop: &[&str]) -> Option<Integrity> {
        let (_, k) = key(s, drop);
        Some(match k.as_str() {
            "md5" | "md596" | "md5128" => Integrity::Md5,
            "sha" | "sha1" | "sha196" | "sha1160" | "sha160" => Integrity::Sha1,
            "sha256" | "sha2256" | "sha256128" | "sha2256128" => Integrity::Sha256,
            "sha384" | "sha2384" | "sha384192" | "sha2384192" => Integrity::Sha384,
            "sha512" | "sha2512" | "sha512256" | "sha2512256" => Integrity::Sha512,
            "aesxcbc" | "aesxcbc96" | "aes128xcbc" | "xcbc" => Integrity::AesXcbc,
            "aescmac" | "aescmac96" | "aes128cmac" | "cmac" => Integrity::AesCmac,
            "sm3" => Integrity::Sm3,
            _ => return None,
        })
    }

    /// The value of Alibaba's `IkeAuthAlg` / `IpsecAuthAlg`, where Alibaba supports it.
    pub fn alibaba_name(self) -> Option<&'static str> {
        match self {
            Integrity::Md5 => Some("md5"),
            Integrity::Sha1 => Some("sha1"),
            Integrity::Sha256 => Some("sha256"),
            Integrity::Sha384 => Some("sha384"),
            Integrity::Sha512 => Some("sha512"),
            Integrity::Sm3 => Some("sm3"),
            Integrity::AesXcbc | Integrity::AesCmac => None,
        }
    }

    /// The strongSwan proposal keyword (`sha256`, `aesxcbc`).
    pub fn swan_name(self) -> &'static str {
        match self {
            Integrity::Md5 => "md5",
            Integrity::Sha1 => "sha1",
            Integrity::Sha256 => "sha256",
            Integrity::Sha384 => "sha384",
            Integrity::Sha512 => "sha512",
            Integrity::AesXcbc => "aesxcbc",
            Integrity::AesCmac => "aescmac",
            Integrity::Sm3 => "sm3",
        }
    }

    /// The integrity algorithm's name in strongSwan's logs (`HMAC_SHA2_256_128`).
    pub fn log_name(self) -> &'static str {
        match self {
            Integrity::Md5 => "HMAC_MD5_96",
            Integrity::Sha1 => "HMAC_SHA1_96",
            Integrity::Sha256 => "HMAC_SHA2_256_128",
            Integrity::Sha384 => "HMAC_SHA2_384_192",
            Integrity::Sha512 => "HMAC_SHA2_512_256",
            Integrity::AesXcbc => "AES_XCBC_96",
            Integrity::AesCmac => "AES_CMAC_96",
            Integrity::Sm3 => "HMAC_SM3",
        }
    }

    /// The PRF's name in strongSwan's logs (`PRF_HMAC_SHA2_256`).
    pub fn prf_log_name(self) -> &'static str {
        match self {
            Integrity::Md5 => "PRF_HMAC_MD5",
            Integrity::Sha1 => "PRF_HMAC_SHA1",
            Integrity::Sha256 => "PRF_HMAC_SHA2_256",
            Integrity::Sha384 => "PRF_HMAC_SHA2_384",
            Integrity::Sha512 => "PRF_HMAC_SHA2_512",
            Integrity::AesXcbc => "PRF_AES128_XCBC",
            Integrity::AesCmac => "PRF_AES128_CMAC",
            Integrity::Sm3 => "PRF_HMAC_SM3",
        }
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alibaba_name().unwrap_or(self.swan_name()))
    }
}

// ---------------------------------------------------------------------------------------
// Diffie-Hellman groups
// ---------------------------------------------------------------------------------------

/// A Diffie-Hellman group (IANA transform type 4 numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DhGroup {
    Modp768,
    Modp1024,
    Modp1536,
    Modp2048,
    Modp3072,
    Modp4096,
    Modp6144,
    Modp8192,
    Ecp256,
    Ecp384,
    Ecp521,
    Modp1024s160,
    Modp2048s224,
    Modp2048s256,
    Ecp192,
    Ecp224,
    Ecp224Bp,
    Ecp256Bp,
    Ecp384Bp,
    Ecp512Bp,
    Curve25519,
    Curve448,
}

const DH_TABLE: &[(DhGroup, u16, &str, &str)] = &[
    (DhGroup::Modp768, 1, "modp768", "MODP_768"),
    (DhGroup::Modp1024, 2, "modp1024", "MODP_1024"),
    (DhGroup::Modp1536, 5, "modp1536", "MODP_1536"),
    (DhGroup::Modp2048, 14, "modp2048", "MODP_2048"),
    (DhGroup::Modp3072, 15, "modp3072", "MODP_3072"),
    (DhGroup::Modp4096, 16, "modp4096", "MODP_4096"),
    (DhGroup::Modp6144, 17, "modp6144", "MODP_6144"),
    (DhGroup::Modp8192, 18, "modp8192", "MODP_8192"),
    (DhGroup::Ecp256, 19, "ecp256", "ECP_256"),
    (DhGroup::Ecp384, 20, "ecp384", "ECP_384"),
    (DhGroup::Ecp521, 21, "ecp521", "ECP_521"),
    (DhGroup::Modp1024s160, 22, "modp1024s160", "MODP_1024_160"),
    (DhGroup::Modp2048s224, 23, "modp2048s224", "MODP_2048_224"),
    (DhGroup::Modp2048s256, 24, "modp2048s256", "MODP_2048_256"),
    (DhGroup::Ecp192, 25, "ecp192", "ECP_192"),
    (DhGroup::Ecp224, 26, "ecp224", "ECP_224"),
    (DhGroup::Ecp224Bp, 27, "ecp224bp", "ECP_224_BP"),
    (DhGroup::Ecp256Bp, 28, "ecp256bp", "ECP_256_BP"),
    (DhGroup::Ecp384Bp, 29, "ecp384bp", "ECP_384_BP"),
    (DhGroup::Ecp512Bp, 30, "ecp512bp", "ECP_512_BP"),
    (DhGroup::Curve25519, 31, "curve25519", "CURVE_25519"),
    (DhGroup::Curve448, 32, "curve448", "CURVE_448"),
];

/// The groups Alibaba names `groupN` in `IkePfs` / `IpsecPfs`.
const ALIBABA_GROUPS: &[u16] = &[1, 2, 5, 14, 15, 16, 19, 20, 21, 24];

impl DhGroup {
    fn row(self) -> &'static (DhGroup, u16, &'static str, &'static str) {
        DH_TABLE
            .iter()
            .find(|r| r.0 == self)
            .expect("every group is in the table")
    }

    /// The IANA group number (`group14` → 14).
    pub fn number(self) -> u16 {
        self.row().1
    }

    pub fn from_number(n: u16) -> Option<DhGroup> {
        DH_TABLE.iter().find(|r| r.1 == n).map(|r| r.0)
    }

    /// Parses `group14`, `dh group14`, `group 14`, `14`, `modp2048`, `MODP_2048`,
    /// `ecp384`, `ECP_384`, `x25519`… A `disabled`/`none` is an error here; see
    /// [`KeyExchange::parse`] for PFS settings.
    pub fn parse(s: &str) -> Result<DhGroup, String> {
        let (_, k) = key(s, &["dh", "group", "pfs", "ike", "esp", "ke"]);
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
            return k
                .parse::<u16>()
                .ok()
                .and_then(DhGroup::from_number)
                .ok_or_else(|| format!("unknown DH group `{}`", s.trim()));
        }
        let alias = match k.as_str() {
            "modp1024160" => "modp1024s160",
            "modp2048224" => "modp2048s224",
            "modp2048256" => "modp2048s256",
            "x25519" => "curve25519",
            "x448" => "curve448",
            "ecp224bp" | "ecp256bp" | "ecp384bp" | "ecp512bp" => k.as_str(),
            other => other,
        };
        DH_TABLE
            .iter()
            .find(|r| r.2 == alias)
            .map(|r| r.0)
            .ok_or_else(|| format!("unknown DH group `{}`", s.trim()))
    }

    /// `groupN` when Alibaba offers the group.
    pub fn alibaba_name(self) -> Option<String> {
        let n = self.number();
        ALIBABA_GROUPS.contains(&n).then(|| format!("group{n}"))
    }

    /// The strongSwan proposal keyword (`modp2048`, `ecp384`).
    pub fn swan_name(self) -> &'static str {
        self.row().2
    }

    /// The name in strongSwan's logs (`MODP_2048`).
    pub fn log_name(self) -> &'static str {
        self.row().3
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.alibaba_name() {
            Some(n) => f.write_str(&n),
            None => f.write_str(self.swan_name()),
        }
    }
}

/// The key exchange of a proposal: a DH group, or none (phase 2 without PFS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyExchange {
    /// No key exchange: PFS disabled (Alibaba `IpsecPfs: disabled`, a strongSwan ESP
    /// proposal without a DH group).
    None,
    Group(DhGroup),
}

impl KeyExchange {
    /// A PFS setting: `disabled`, `none`, `no`, `off`, `modpnone`, or any group spelling.
    pub fn parse(s: &str) -> Result<KeyExchange, String> {
        let (_, k) = key(s, &["pfs", "dh", "group"]);
        match k.as_str() {
            "disabled" | "disable" | "none" | "modpnone" | "no" | "off" | "nopfs" | "false" => {
                Ok(KeyExchange::None)
            }
            _ => DhGroup::parse(s).map(KeyExchange::Group),
        }
    }
}

impl fmt::Display for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyExchange::None => f.write_str("disabled"),
            KeyExchange::Group(g) => g.fmt(f),
        }
    }
}

// ---------------------------------------------------------------------------------------
// IKE version and mode
// ---------------------------------------------------------------------------------------

/// The IKE version an end speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IkeVersion {
    V1,
    V2,
    /// Either (strongSwan `version = 0`): accepts both, initiates IKEv2.
    Any,
}

impl IkeVersion {
    /// `ikev1`, `IKEv1`, `v1`, `1`; `ikev2`…; `any`, `0`, `ike`, `auto`.
    pub fn parse(s: &str) -> Result<IkeVersion, String> {
        let (_, k) = key(s, &["version"]);
        match k.as_str() {
            "ikev1" | "v1" | "1" | "ike1" | "ikev1only" => Ok(IkeVersion::V1),
            "ikev2" | "v2" | "2" | "ike2" | "ikev2only" => Ok(IkeVersion::V2),
            "any" | "0" | "ike" | "auto" | "ikev1ikev2" | "ikev2ikev1" => Ok(IkeVersion::Any),
            _ => Err(format!("unknown IKE version `{}`", s.trim())),
        }
    }

    /// Whether two ends can agree on a version.
    pub fn compatible(self, other: IkeVersion) -> bool {
        self == IkeVersion::Any || other == IkeVersion::Any || self == other
    }
}

impl fmt::Display for IkeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IkeVersion::V1 => "ikev1",
            IkeVersion::V2 => "ikev2",
            IkeVersion::Any => "ikev1 or ikev2",
        })
    }
}

/// The IKEv1 phase-1 exchange mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IkeMode {
    Main,
    Aggressive,
}

impl IkeMode {
    /// `main`, `main mode`, `mm`, `id_prot`; `aggressive`, `aggr`, `am`.
    pub fn parse(s: &str) -> Result<IkeMode, String> {
        let (_, k) = key(s, &["mode", "exchange"]);
        match k.as_str() {
            "main" | "mm" | "idprot" | "identityprotection" => Ok(IkeMode::Main),
            "aggressive" | "aggr" | "am" | "aggresive" => Ok(IkeMode::Aggressive),
            _ => Err(format!("unknown IKE negotiation mode `{}`", s.trim())),
        }
    }

    /// How strongSwan logs it (`Main`, `Aggressive`).
    pub fn log_name(self) -> &'static str {
        match self {
            IkeMode::Main => "Main",
            IkeMode::Aggressive => "Aggressive",
        }
    }
}

impl fmt::Display for IkeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IkeMode::Main => "main",
            IkeMode::Aggressive => "aggressive",
        })
    }
}

// ---------------------------------------------------------------------------------------
// Proposals and negotiation
// ---------------------------------------------------------------------------------------

/// Which negotiation a proposal is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// IKE SA (phase 1).
    Ike,
    /// ESP child / IPsec SA (phase 2).
    Esp,
}

impl Phase {
    fn log_prefix(self) -> &'static str {
        match self {
            Phase::Ike => "IKE",
            Phase::Esp => "ESP",
        }
    }
}

/// A transform type, as named when negotiation finds nothing in common.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transform {
    Encryption,
    Integrity,
    Prf,
    /// The DH group (phase 1) or PFS group (phase 2).
    DhGroup,
}

impl Transform {
    /// As strongSwan 5.9 logs it: `no acceptable ENCRYPTION_ALGORITHM found`.
    pub fn swan_name(self) -> &'static str {
        match self {
            Transform::Encryption => "ENCRYPTION_ALGORITHM",
            Transform::Integrity => "INTEGRITY_ALGORITHM",
            Transform::Prf => "PSEUDO_RANDOM_FUNCTION",
            Transform::DhGroup => "KEY_EXCHANGE_METHOD",
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transform::Encryption => "encryption",
            Transform::Integrity => "integrity",
            Transform::Prf => "PRF",
            Transform::DhGroup => "DH group",
        })
    }
}

/// One proposal: acceptable algorithms per transform, any combination allowed.
///
/// An empty list means the configuration does not say (a field left out of the
/// topology): it matches anything. A phase-2 proposal without PFS has
/// `dh == [KeyExchange::None]`, not an empty list. AEAD ciphers ignore `integrity`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposal {
    pub encryption: Vec<Encryption>,
    pub integrity: Vec<Integrity>,
    /// Phase 1 only. When a phase-1 proposal names no PRF, it is the integrity
    /// algorithms' hashes (as strongSwan and Alibaba derive it).
    pub prf: Vec<Integrity>,
    pub dh: Vec<KeyExchange>,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Proposal {
    /// Parses strongSwan proposal syntax: `aes256-sha256-modp2048`,
    /// `aes256gcm16-prfsha384-ecp384`, `aes128-sha1` (ESP without PFS), several
    /// separated by commas. A proposal mixing AEAD and classic ciphers is split in two,
    /// as strongSwan does.
    pub fn parse_swan(s: &str, phase: Phase) -> Result<Vec<Proposal>, String> {
        let mut out = Vec::new();
        for one in s.split(',') {
            let one = one.trim().trim_end_matches('!');
            if one.is_empty() {
                continue;
            }
            if one.eq_ignore_ascii_case("default") {
                return Err(format!(
                    "strongSwan's `default` proposal list is not modelled; list the algorithms in `{}`",
                    s.trim()
                ));
            }
            let mut p = Proposal::default();
            for tok in one.split('-') {
                let t = tok.trim().to_ascii_lowercase();
                if t.is_empty() || t == "esn" || t == "noesn" {
                    continue;
                }
                if t.starts_with("prf") {
                    let prf = Integrity::parse_prf(&t)
                        .map_err(|e| format!("{e} in proposal `{}`", one))?;
                    push_unique(&mut p.prf, prf);
                } else if t.starts_with("modp")
                    || t.starts_with("ecp")
                    || t.starts_with("curve")
                    || t == "x25519"
                    || t == "x448"
                    || t == "none"
                {
                    let ke =
                        KeyExchange::parse(&t).map_err(|e| format!("{e} in proposal `{}`", one))?;
                    push_unique(&mut p.dh, ke);
                } else if let Ok(e) = Encryption::parse(&t) {
                    push_unique(&mut p.encryption, e);
                } else if let Ok(i) = Integrity::parse(&t) {
                    push_unique(&mut p.integrity, i);
                } else {
                    return Err(format!("unknown algorithm `{tok}` in proposal `{one}`"));
                }
            }
            if p.encryption.is_empty() {
                return Err(format!("proposal `{one}` names no encryption algorithm"));
            }
            if phase == Phase::Esp && p.dh.is_empty() {
                p.dh.push(KeyExchange::None);
            }
            if phase == Phase::Ike && p.dh.contains(&KeyExchange::None) {
                return Err(format!("IKE proposal `{one}` needs a DH group"));
            }
            out.extend(p.finish(phase));
        }
        if out.is_empty() {
            return Err(format!("no proposal in `{}`", s.trim()));
        }
        Ok(out)
    }

    /// Parses one proposal as strongSwan logs it:
    /// `IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048` or
    /// `ESP:AES_CBC_128/HMAC_SHA1_96/MODP_1024/NO_EXT_SEQ`.
    pub fn parse_log(s: &str) -> Result<(Phase, Proposal), String> {
        let s = s.trim().trim_end_matches(',');
        let (prefix, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("expected `IKE:…` or `ESP:…`, got `{s}`"))?;
        let phase = match prefix.trim().to_ascii_uppercase().as_str() {
            "IKE" => Phase::Ike,
            "ESP" | "AH" => Phase::Esp,
            other => return Err(format!("unknown protocol `{other}` in `{s}`")),
        };
        let mut p = Proposal::default();
        for tok in rest.split('/') {
            let t = tok.trim();
            let up = t.to_ascii_uppercase();
            if t.is_empty() || up == "NO_EXT_SEQ" || up == "EXT_SEQ" {
                continue;
            }
            if up.starts_with("PRF_") {
                push_unique(&mut p.prf, Integrity::parse_prf(t)?);
            } else if up.starts_with("MODP_") || up.starts_with("ECP_") || up.starts_with("CURVE_")
            {
                push_unique(&mut p.dh, KeyExchange::parse(t)?);
            } else if let Some(i) = Integrity::parse(t).ok().filter(|_| {
                up.starts_with("HMAC_") || up.starts_with("AES_XCBC") || up.starts_with("AES_CMAC")
            }) {
                push_unique(&mut p.integrity, i);
            } else {
                push_unique(
                    &mut p.encryption,
                    Encryption::parse(t).map_err(|e| format!("{e} in `{s}`"))?,
                );
            }
        }
        if phase == Phase::Esp && p.dh.is_empty() {
            p.dh.push(KeyExchange::None);
        }
        Ok((phase, p))
    }

    /// A proposal from separate per-transform settings, as Alibaba's API and most
    /// vendor CLIs hold them. An empty slice leaves that transform unstated. For
    /// phase 2, `dh` holds PFS values (`disabled` or a group).
    pub fn from_fields(
        encryption: &[&str],
        integrity: &[&str],
        dh: &[&str],
        phase: Phase,
    ) -> Result<Proposal, String> {
        let mut p = Proposal::default();
        for e in encryption {
            push_unique(&mut p.encryption, Encryption::parse(e)?);
        }
        for i in integrity {
            push_unique(&mut p.integrity, Integrity::parse(i)?);
        }
        for d in dh {
            let ke = match phase {
                Phase::Ike => KeyExchange::Group(DhGroup::parse(d)?),
                Phase::Esp => KeyExchange::parse(d)?,
            };
            push_unique(&mut p.dh, ke);
        }
        let mut v = p.finish(phase);
        Ok(v.remove(0))
    }

    /// Derives the phase-1 PRF and splits AEAD from classic ciphers.
    fn finish(mut self, phase: Phase) -> Vec<Proposal> {
        if phase == Phase::Ike && self.prf.is_empty() {
            self.prf = self.integrity.clone();
        }
        let aead: Vec<Encryption> = self
            .encryption
            .iter()
            .copied()
            .filter(|e| e.is_aead())
            .collect();
        if aead.is_empty() || aead.len() == self.encryption.len() {
            if !aead.is_empty() {
                self.integrity.clear();
            }
            return vec![self];
        }
        let mut classic = self.clone();
        classic.encryption.retain(|e| !e.is_aead());
        let mut a = self;
        a.encryption = aead;
        a.integrity.clear();
        vec![classic, a]
    }

    /// The same proposal without key exchange: what an IKEv2 initiator offers for the
    /// CHILD_SA created with the IKE_SA (RFC 7296 §1.2; strongSwan strips the DH group).
    pub fn without_dh(&self) -> Proposal {
        let mut p = self.clone();
        p.dh.clear();
        p
    }

    /// True when the proposal only has AEAD ciphers (so integrity does not apply).
    fn aead_only(&self) -> bool {
        !self.encryption.is_empty() && self.encryption.iter().all(|e| e.is_aead())
    }

    /// As strongSwan logs it (`IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048`),
    /// or `None` when a transform is unstated.
    pub fn log_string(&self, phase: Phase) -> Option<String> {
        if self.encryption.is_empty()
            || (!self.aead_only() && self.integrity.is_empty())
            || (phase == Phase::Ike && (self.dh.is_empty() || self.prf.is_empty()))
        {
            return None;
        }
        let mut parts: Vec<String> = self.encryption.iter().map(|e| e.log_name()).collect();
        if !self.aead_only() {
            parts.extend(self.integrity.iter().map(|i| i.log_name().to_string()));
        }
        if phase == Phase::Ike {
            parts.extend(self.prf.iter().map(|i| i.prf_log_name().to_string()));
        }
        for d in &self.dh {
            if let KeyExchange::Group(g) = d {
                parts.push(g.log_name().to_string());
            }
        }
        if phase == Phase::Esp {
            parts.push("NO_EXT_SEQ".into());
        }
        Some(format!("{}:{}", phase.log_prefix(), parts.join("/")))
    }
}

/// The proposals of one side as strongSwan logs them (`received proposals: …`), or
/// `None` when some transform is unstated.
pub fn log_list(proposals: &[Proposal], phase: Phase) -> Option<String> {
    let v: Option<Vec<String>> = proposals.iter().map(|p| p.log_string(phase)).collect();
    v.filter(|v| !v.is_empty()).map(|v| v.join(", "))
}

/// The suite negotiation settles on. `None` in a field: neither side states it (or,
/// for integrity, the cipher is an AEAD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chosen {
    pub encryption: Option<Encryption>,
    pub integrity: Option<Integrity>,
    pub prf: Option<Integrity>,
    pub dh: Option<KeyExchange>,
}

impl fmt::Display for Chosen {
    /// `aes256/sha256/group14`, Alibaba names where they exist.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(e) = self.encryption {
            parts.push(e.to_string());
        }
        if let Some(i) = self.integrity {
            parts.push(i.to_string());
        }
        if let (Some(p), true) = (self.prf, self.integrity != self.prf) {
            parts.push(format!("prf{}", p.swan_name()));
        }
        if let Some(d) = self.dh {
            parts.push(match d {
                KeyExchange::None => "no PFS".to_string(),
                KeyExchange::Group(g) => g.to_string(),
            });
        }
        if parts.is_empty() {
            return f.write_str("(unstated)");
        }
        f.write_str(&parts.join("/"))
    }
}

/// Why negotiation failed: the transforms for which the two sides have no algorithm in
/// common. Empty when every transform has something in common but never within one
/// proposal pair (e.g. `aes128-sha1, aes256-sha256` against `aes128-sha256`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoMatch {
    pub transforms: Vec<Transform>,
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.transforms.is_empty() {
            return f.write_str("no single proposal combines algorithms both ends accept");
        }
        let names: Vec<String> = self.transforms.iter().map(|t| t.to_string()).collect();
        write!(f, "no common {}", names.join(", "))
    }
}

/// From `configured` (preferred, in order) and `supplied`: the first configured value
/// the other side also lists. `Some(None)` when neither states one; an unstated list
/// matches anything.
fn select<T: Copy + PartialEq>(configured: &[T], supplied: &[T]) -> Option<Option<T>> {
    match (configured.is_empty(), supplied.is_empty()) {
        (true, true) => Some(None),
        (true, false) => Some(Some(supplied[0])),
        (false, true) => Some(Some(configured[0])),
        (false, false) => configured
            .iter()
            .find(|c| supplied.contains(c))
            .map(|c| Some(*c)),
    }
}

fn select_pair(configured: &Proposal, supplied: &Proposal) -> Option<Chosen> {
    let encryption = select(&configured.encryption, &supplied.encryption)?;
    let integrity = if encryption.is_some_and(|e| e.is_aead()) {
        None
    } else {
        select(&configured.integrity, &supplied.integrity)?
    };
    let prf = select(&configured.prf, &supplied.prf)?;
    let dh = select(&configured.dh, &supplied.dh)?;
    Some(Chosen {
        encryption,
        integrity,
        prf,
        dh,
    })
}

fn or_any(p: &[Proposal]) -> Vec<Proposal> {
    if p.is_empty() {
        vec![Proposal::default()]
    } else {
        p.to_vec()
    }
}

/// Negotiates as strongSwan's responder does (`prefer_configured_proposals = yes`, the
/// default): its own proposals in order, each against every proposal the initiator
/// offers; within a transform, the responder's first algorithm the initiator lists.
/// Whether a match exists does not depend on who initiates; which suite is chosen may.
/// An empty proposal list matches anything.
pub fn negotiate(initiator: &[Proposal], responder: &[Proposal]) -> Result<Chosen, NoMatch> {
    let (ini, res) = (or_any(initiator), or_any(responder));
    for r in &res {
        for i in &ini {
            if let Some(c) = select_pair(r, i) {
                return Ok(c);
            }
        }
    }
    Err(no_match(&ini, &res))
}

/// The algorithms of one transform across proposals, or `None` when some proposal
/// leaves it unstated (matches anything).
fn union<T: Copy + PartialEq>(
    props: &[Proposal],
    get: impl Fn(&Proposal) -> &Vec<T>,
    only: impl Fn(&Proposal) -> bool,
) -> Option<Vec<T>> {
    let mut out = Vec::new();
    for p in props.iter().filter(|p| only(p)) {
        let v = get(p);
        if v.is_empty() {
            return None;
        }
        for x in v {
            push_unique(&mut out, *x);
        }
    }
    Some(out)
}

fn disjoint<T: PartialEq>(a: &Option<Vec<T>>, b: &Option<Vec<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => !a.iter().any(|x| b.contains(x)),
        _ => false,
    }
}

fn no_match(a: &[Proposal], b: &[Proposal]) -> NoMatch {
    let mut t = Vec::new();
    let all = |_: &Proposal| true;
    let classic = |p: &Proposal| !p.aead_only();
    if disjoint(
        &union(a, |p| &p.encryption, all),
        &union(b, |p| &p.encryption, all),
    ) {
        t.push(Transform::Encryption);
    }
    let (ca, cb) = (a.iter().any(classic), b.iter().any(classic));
    if ca
        && cb
        && disjoint(
            &union(a, |p| &p.integrity, classic),
            &union(b, |p| &p.integrity, classic),
        )
    {
        t.push(Transform::Integrity);
    }
    if !t.contains(&Transform::Integrity)
        && disjoint(&union(a, |p| &p.prf, all), &union(b, |p| &p.prf, all))
    {
        t.push(Transform::Prf);
    }
    if disjoint(&union(a, |p| &p.dh, all), &union(b, |p| &p.dh, all)) {
        t.push(Transform::DhGroup);
    }
    NoMatch { transforms: t }
}

/// The names one side lists for a transform, in order (`aes256, aes`), or `None` when
/// unstated. Uses [`Display`](fmt::Display) names (Alibaba's where they exist).
pub fn offered(props: &[Proposal], t: Transform) -> Option<Vec<String>> {
    if props.is_empty() {
        return None;
    }
    let names: Option<Vec<String>> = match t {
        Transform::Encryption => union(props, |p| &p.encryption, |_| true)
            .map(|v| v.iter().map(|x| x.to_string()).collect()),
        Transform::Integrity => union(props, |p| &p.integrity, |p| !p.aead_only())
            .map(|v| v.iter().map(|x| x.to_string()).collect()),
        Transform::Prf => {
            union(props, |p| &p.prf, |_| true).map(|v| v.iter().map(|x| x.to_string()).collect())
        }
        Transform::DhGroup => {
            union(props, |p| &p.dh, |_| true).map(|v| v.iter().map(|x| x.to_string()).collect())
        }
    };
    names.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alibaba_names_parse_and_print() {
        assert_eq!(Encryption::parse("aes").unwrap(), Encryption::Aes128);
        assert_eq!(Encryption::Aes128.to_string(), "aes");
        for n in ["aes", "aes192", "aes256", "3des", "des", "sm4"] {
            assert_eq!(Encryption::parse(n).unwrap().to_string(), n);
        }
        for n in ["md5", "sha1", "sha256", "sha384", "sha512", "sm3"] {
            assert_eq!(Integrity::parse(n).unwrap().to_string(), n);
        }
        for n in [1, 2, 5, 14, 15, 16, 19, 20, 21, 24] {
            let s = format!("group{n}");
            let g = DhGroup::parse(&s).unwrap();
            assert_eq!(g.number(), n);
            assert_eq!(g.to_string(), s);
        }
        assert_eq!(KeyExchange::parse("disabled").unwrap(), KeyExchange::None);
        assert_eq!(KeyExchange::None.to_string(), "disabled");
        assert!(DhGroup::parse("disabled").is_err());
    }

    #[test]
    fn strongswan_and_log_names() {
        assert_eq!(
            Encryption::parse("AES_CBC_256").unwrap(),
            Encryption::Aes256
        );
        assert_eq!(Encryption::parse("aes128").unwrap(), Encryption::Aes128);
        assert_eq!(
            Encryption::parse("3DES_CBC").unwrap(),
            Encryption::TripleDes
        );
        assert_eq!(
            Encryption::parse("aes256gcm16").unwrap(),
            Encryption::AesGcm { key: 256, icv: 16 }
        );
        assert_eq!(
            Encryption::parse("AES_GCM_16_256").unwrap(),
            Encryption::AesGcm { key: 256, icv: 16 }
        );
        assert_eq!(
            Encryption::parse("aes128gcm8").unwrap(),
            Encryption::AesGcm { key: 128, icv: 8 }
        );
        assert_eq!(
            Integrity::parse("HMAC_SHA2_256_128").unwrap(),
            Integrity::Sha256
        );
        assert_eq!(Integrity::parse("HMAC_SHA1_96").unwrap(), Integrity::Sha1);
        assert_eq!(Integrity::parse("HMAC_MD5_96").unwrap(), Integrity::Md5);
        assert_eq!(Integrity::parse("AES_XCBC_96").unwrap(), Integrity::AesXcbc);
        assert_eq!(
            Integrity::parse_prf("PRF_HMAC_SHA2_256").unwrap(),
            Integrity::Sha256
        );
        assert_eq!(
            Integrity::parse_prf("prfsha384").unwrap(),
            Integrity::Sha384
        );
        assert_eq!(DhGroup::parse("MODP_2048").unwrap(), DhGroup::Modp2048);
        assert_eq!(DhGroup::parse("ECP_384").unwrap(), DhGroup::Ecp384);
        assert_eq!(
            DhGroup::parse("MODP_2048_256").unwrap(),
            DhGroup::Modp2048s256
        );
        assert_eq!(DhGroup::parse("curve25519").unwrap().number(), 31);
        assert_eq!(DhGroup::parse("x25519").unwrap(), DhGroup::Curve25519);
        // Round trips through the log names.
        for e in [
            Encryption::Aes256,
            Encryption::AesGcm { key: 128, icv: 12 },
            Encryption::Des,
        ] {
            assert_eq!(Encryption::parse(&e.log_name()).unwrap(), e);
            assert_eq!(Encryption::parse(&e.swan_name()).unwrap(), e);
        }
        for (g, _, _, _) in DH_TABLE {
            assert_eq!(DhGroup::parse(g.log_name()).unwrap(), *g);
            assert_eq!(DhGroup::parse(g.swan_name()).unwrap(), *g);
            assert_eq!(DhGroup::parse(&format!("group{}", g.number())).unwrap(), *g);
        }
        for i in [
            Integrity::Md5,
            Integrity::Sha1,
            Integrity::Sha256,
            Integrity::Sha384,
            Integrity::Sha512,
        ] {
            assert_eq!(Integrity::parse(i.log_name()).unwrap(), i);
            assert_eq!(Integrity::parse_prf(i.prf_log_name()).unwrap(), i);
        }
    }

    #[test]
    fn vendor_spellings() {
        assert_eq!(Encryption::parse("aes-256").unwrap(), Encryption::Aes256);
        assert_eq!(
            Encryption::parse("esp-aes 256").unwrap(),
            Encryption::Aes256
        );
        assert_eq!(
            Encryption::parse("esp-3des").unwrap(),
            Encryption::TripleDes
        );
        assert_eq!(
            Encryption::parse("aes-256-cbc").unwrap(),
            Encryption::Aes256
        );
        assert_eq!(
            Encryption::parse("AES-CBC-128").unwrap(),
            Encryption::Aes128
        );
        assert_eq!(
            Encryption::parse("aes-gcm-256").unwrap(),
            Encryption::AesGcm { key: 256, icv: 16 }
        );
        assert_eq!(
            Encryption::parse("esp-gcm 128").unwrap(),
            Encryption::AesGcm { key: 128, icv: 16 }
        );
        assert_eq!(Integrity::parse("sha-256").unwrap(), Integrity::Sha256);
        assert_eq!(Integrity::parse("sha2-256").unwrap(), Integrity::Sha256);
        assert_eq!(Integrity::parse("esp-sha-hmac").unwrap(), Integrity::Sha1);
        assert_eq!(
            Integrity::parse("esp-sha256-hmac").unwrap(),
            Integrity::Sha256
        );
        assert_eq!(Integrity::parse("esp-md5-hmac").unwrap(), Integrity::Md5);
        assert_eq!(
            Integrity::parse("hmac-sha-256-128").unwrap(),
            Integrity::Sha256
        );
        assert_eq!(Integrity::parse("hmac-sha1-96").unwrap(), Integrity::Sha1);
        assert_eq!(Integrity::parse("SHA").unwrap(), Integrity::Sha1);
        assert_eq!(DhGroup::parse("dh group14").unwrap(), DhGroup::Modp2048);
        assert_eq!(DhGroup::parse("group 2").unwrap(), DhGroup::Modp1024);
        assert_eq!(DhGroup::parse("modp1024").unwrap(), DhGroup::Modp1024);
        assert_eq!(DhGroup::parse("14").unwrap(), DhGroup::Modp2048);
        assert_eq!(DhGroup::parse("pfs dh-group19").unwrap(), DhGroup::Ecp256);
        assert_eq!(IkeVersion::parse("IKEv2").unwrap(), IkeVersion::V2);
        assert_eq!(IkeVersion::parse("v1").unwrap(), IkeVersion::V1);
        assert_eq!(IkeMode::parse("Aggressive").unwrap(), IkeMode::Aggressive);
        assert_eq!(IkeMode::parse("main mode").unwrap(), IkeMode::Main);
    }

    #[test]
    fn unknown_names_are_errors_naming_the_value() {
        let e = Encryption::parse("rot13").unwrap_err();
        assert!(e.contains("`rot13`"), "{e}");
        assert!(Integrity::parse("crc32").unwrap_err().contains("`crc32`"));
        assert!(DhGroup::parse("group99").unwrap_err().contains("`group99`"));
        assert!(DhGroup::parse("modp999").is_err());
        assert!(IkeVersion::parse("ikev3").is_err());
        assert!(IkeMode::parse("quick").is_err());
        let e = Proposal::parse_swan("aes256-sha256-foo", Phase::Ike).unwrap_err();
        assert!(e.contains("`foo`"), "{e}");
        assert!(Proposal::parse_swan("sha256-modp2048", Phase::Ike).is_err());
        assert!(Proposal::parse_swan("default", Phase::Ike).is_err());
    }

    #[test]
    fn parse_strongswan_proposals() {
        let p = Proposal::parse_swan("aes128-sha256-modp2048", Phase::Ike).unwrap();
        assert_eq!(
            p,
            vec![Proposal {
                encryption: vec![Encryption::Aes128],
                integrity: vec![Integrity::Sha256],
                prf: vec![Integrity::Sha256],
                dh: vec![KeyExchange::Group(DhGroup::Modp2048)],
            }]
        );
        let p = Proposal::parse_swan("aes256gcm16-prfsha384-ecp384", Phase::Ike).unwrap();
        assert_eq!(
            p[0].encryption,
            vec![Encryption::AesGcm { key: 256, icv: 16 }]
        );
        assert!(p[0].integrity.is_empty());
        assert_eq!(p[0].prf, vec![Integrity::Sha384]);
        assert_eq!(p[0].dh, vec![KeyExchange::Group(DhGroup::Ecp384)]);
        let p = Proposal::parse_swan("aes256-sha1", Phase::Esp).unwrap();
        assert_eq!(p[0].dh, vec![KeyExchange::None]);
        assert!(p[0].prf.is_empty());
        let p = Proposal::parse_swan("3des-md5-modp1024", Phase::Ike).unwrap();
        assert_eq!(p[0].encryption, vec![Encryption::TripleDes]);
        assert_eq!(p[0].integrity, vec![Integrity::Md5]);
        let p = Proposal::parse_swan("aes256-sha1-modp1024, aes128-sha256-modp2048!", Phase::Ike)
            .unwrap();
        assert_eq!(p.len(), 2);
        // Mixed AEAD and classic ciphers split in two.
        let p = Proposal::parse_swan("aes256gcm16-aes256-sha256-modp2048", Phase::Esp).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].encryption, vec![Encryption::Aes256]);
        assert!(p[1].integrity.is_empty());
    }

    #[test]
    fn parse_logged_proposals() {
        let (ph, p) =
            Proposal::parse_log("IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048")
                .unwrap();
        assert_eq!(ph, Phase::Ike);
        assert_eq!(
            p,
            Proposal::parse_swan("aes256-sha256-modp2048", Phase::Ike).unwrap()[0]
        );
        let (ph, p) = Proposal::parse_log("ESP:AES_CBC_128/HMAC_SHA2_256_128/NO_EXT_SEQ").unwrap();
        assert_eq!(ph, Phase::Esp);
        assert_eq!(p.dh, vec![KeyExchange::None]);
        let (_, p) = Proposal::parse_log("ESP:AES_CBC_128/AES_CBC_192/AES_CBC_256/3DES_CBC/HMAC_SHA2_256_128/HMAC_SHA1_96/AES_XCBC_96/HMAC_MD5_96/NO_EXT_SEQ").unwrap();
        assert_eq!(p.encryption.len(), 4);
        assert_eq!(p.integrity.len(), 4);
        assert!(Proposal::parse_log("ESP:BLOWFISH_CBC_256/HMAC_SHA1_96").is_err());
    }

    #[test]
    fn log_strings_match_strongswan() {
        let p = Proposal::parse_swan("aes256-sha256-modp2048", Phase::Ike).unwrap();
        assert_eq!(
            log_list(&p, Phase::Ike).unwrap(),
            "IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        );
        let p = Proposal::parse_swan("aes256-sha256-modp2048", Phase::Esp).unwrap();
        assert_eq!(
            log_list(&p, Phase::Esp).unwrap(),
            "ESP:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ"
        );
        // The DH-stripped proposal of an IKEv2 IKE_AUTH exchange, as the responder logs it.
        assert_eq!(
            p[0].without_dh().log_string(Phase::Esp).unwrap(),
            "ESP:AES_CBC_256/HMAC_SHA2_256_128/NO_EXT_SEQ"
        );
        let p = Proposal::parse_swan("aes128-sha256", Phase::Esp).unwrap();
        assert_eq!(
            log_list(&p, Phase::Esp).unwrap(),
            "ESP:AES_CBC_128/HMAC_SHA2_256_128/NO_EXT_SEQ"
        );
        let p = Proposal::from_fields(&["aes"], &[], &["group2"], Phase::Ike).unwrap();
        assert_eq!(log_list(&[p], Phase::Ike), None);
    }

    #[test]
    fn alibaba_fields_match_strongswan_proposal() {
        let ali =
            Proposal::from_fields(&["aes256"], &["sha256"], &["group14"], Phase::Ike).unwrap();
        let swan = Proposal::parse_swan("aes256-sha256-modp2048", Phase::Ike).unwrap();
        let c = negotiate(&swan, &[ali]).unwrap();
        assert_eq!(c.encryption, Some(Encryption::Aes256));
        assert_eq!(c.integrity, Some(Integrity::Sha256));
        assert_eq!(c.prf, Some(Integrity::Sha256));
        assert_eq!(c.dh, Some(KeyExchange::Group(DhGroup::Modp2048)));
        assert_eq!(c.to_string(), "aes256/sha256/group14");
        // Alibaba `aes` is AES-128, not AES-256.
        let ali128 =
            Proposal::from_fields(&["aes"], &["sha256"], &["group14"], Phase::Ike).unwrap();
        let err = negotiate(&swan, &[ali128]).unwrap_err();
        assert_eq!(err.transforms, vec![Transform::Encryption]);
    }

    #[test]
    fn negotiation_names_the_missing_transform() {
        let a = Proposal::parse_swan("aes256-sha256-modp1024", Phase::Ike).unwrap();
        let b = Proposal::parse_swan("aes256-sha256-modp2048", Phase::Ike).unwrap();
        assert_eq!(
            negotiate(&a, &b).unwrap_err().transforms,
            vec![Transform::DhGroup]
        );
        let b = Proposal::parse_swan("aes128-sha1-modp2048", Phase::Ike).unwrap();
        assert_eq!(
            negotiate(&a, &b).unwrap_err().transforms,
            vec![
                Transform::Encryption,
                Transform::Integrity,
                Transform::DhGroup
            ]
        );
        // PRF explicit and different, integrity irrelevant (AEAD).
        let a = Proposal::parse_swan("aes256gcm16-prfsha256-ecp384", Phase::Ike).unwrap();
        let b = Proposal::parse_swan("aes256gcm16-prfsha384-ecp384", Phase::Ike).unwrap();
        assert_eq!(
            negotiate(&a, &b).unwrap_err().transforms,
            vec![Transform::Prf]
        );
        // Each transform has something in common, but never in one proposal pair.
        let a = Proposal::parse_swan("aes128-sha1-modp2048,aes256-sha256-modp2048", Phase::Ike)
            .unwrap();
        let b = Proposal::parse_swan("aes128-sha256-modp2048", Phase::Ike).unwrap();
        let e = negotiate(&a, &b).unwrap_err();
        assert!(e.transforms.is_empty());
        assert!(e.to_string().contains("no single proposal"));
    }

    #[test]
    fn negotiation_prefers_the_responders_order_and_lists_intersect() {
        let ini = Proposal::parse_swan("aes128-aes256-sha1-sha256-modp1024-modp2048", Phase::Ike)
            .unwrap();
        let res = Proposal::parse_swan("aes256-aes128-sha256-modp2048", Phase::Ike).unwrap();
        let c = negotiate(&ini, &res).unwrap();
        assert_eq!(c.encryption, Some(Encryption::Aes256));
        assert_eq!(c.dh, Some(KeyExchange::Group(DhGroup::Modp2048)));
        // Unstated transforms match anything.
        let loose = Proposal::from_fields(&["aes256"], &[], &[], Phase::Ike).unwrap();
        assert!(negotiate(&[loose], &res).is_ok());
        assert!(negotiate(&[], &res).is_ok());
    }

    #[test]
    fn pfs_negotiation_and_ikev2_first_child() {
        let with = Proposal::parse_swan("aes256-sha256-modp2048", Phase::Esp).unwrap();
        let without = Proposal::parse_swan("aes256-sha256", Phase::Esp).unwrap();
        let e = negotiate(&with, &without).unwrap_err();
        assert_eq!(e.transforms, vec![Transform::DhGroup]);
        // The first IKEv2 CHILD_SA carries no key exchange: it comes up anyway.
        let stripped: Vec<Proposal> = with.iter().map(|p| p.without_dh()).collect();
        assert!(negotiate(&stripped, &without).is_ok());
        let ali =
            Proposal::from_fields(&["aes256"], &["sha256"], &["disabled"], Phase::Esp).unwrap();
        assert_eq!(
            negotiate(&without, std::slice::from_ref(&ali)).unwrap().dh,
            Some(KeyExchange::None)
        );
        assert!(negotiate(&with, &[ali]).is_err());
        // `modpnone` accepts both.
        let both = Proposal::parse_swan("aes256-sha256-modp2048-modpnone", Phase::Esp).unwrap();
        assert!(negotiate(&without, &both).is_ok());
        assert!(negotiate(&with, &both).is_ok());
    }

    #[test]
    fn offered_lists_names() {
        let p = Proposal::parse_swan("aes256-aes128-sha256-modp2048", Phase::Ike).unwrap();
        assert_eq!(
            offered(&p, Transform::Encryption).unwrap(),
            vec!["aes256".to_string(), "aes".to_string()]
        );
        assert_eq!(
            offered(&p, Transform::DhGroup).unwrap(),
            vec!["group14".to_string()]
        );
        let loose = Proposal::from_fields(&["aes"], &[], &[], Phase::Ike).unwrap();
        assert_eq!(offered(&[loose], Transform::Integrity), None);
    }
}
