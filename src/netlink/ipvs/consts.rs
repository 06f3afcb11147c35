//! Numbers from the kernel's `include/uapi/linux/ip_vs.h` (generic netlink part) and
//! `linux/socket.h`. Only what this client sends or reads.

/// Generic netlink family name and the protocol version the kernel registers.
pub const FAMILY_NAME: &str = "IPVS";
pub const FAMILY_VERSION: u8 = 1;

/// `IPVS_CMD_*`.
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
}

/// `IPVS_CMD_ATTR_*`: top-level attributes.
pub mod cmd_attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const TIMEOUT_TCP: u16 = 4;
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    pub const TIMEOUT_UDP: u16 = 6;
}

/// `IPVS_SVC_ATTR_*`: inside `IPVS_CMD_ATTR_SERVICE`.
pub mod svc_attr {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const PE_NAME: u16 = 11;
}

/// `IPVS_DEST_ATTR_*`: inside `IPVS_CMD_ATTR_DEST`.
pub mod dest_attr {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const ADDR_FAMILY: u16 = 11;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// `IP_VS_SVC_F_*` service flags.
pub mod svc_flag {
    pub const PERSISTENT: u32 = 0x01;
    /// Kernel-internal ("is in the hash table"): never sent, ignored when read.
    #[allow(dead_code)]
    pub const HASHED: u32 = 0x02;
    pub const ONEPACKET: u32 = 0x04;
    pub const SCHED1: u32 = 0x08;
    pub const SCHED2: u32 = 0x10;
    pub const SCHED3: u32 = 0x20;
    /// The bits a SET_SERVICE overwrites (`struct ip_vs_flags.mask`): everything a user
    /// can set, so that bits the desired state does not want are cleared. HASHED is left
    /// out on purpose: it belongs to the kernel.
    pub const MANAGED: u32 = PERSISTENT | ONEPACKET | SCHED1 | SCHED2 | SCHED3;
}

/// `IP_VS_CONN_F_FWD_MASK`: the forwarding method bits of a destination's conn flags.
pub const CONN_F_FWD_MASK: u32 = 0x7;

/// Address families (`AF_INET`, `AF_INET6`) as the kernel stores them.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
