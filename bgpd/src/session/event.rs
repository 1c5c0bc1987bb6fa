//! The FSM events of RFC 4271 section 8.1, by their RFC names.

use serde::{Deserialize, Serialize};

/// An event of the BGP FSM (RFC 4271 section 8.1.2 to 8.1.5), named as in the RFC.
///
/// The administrative and TCP events are inputs of [`super::Session::handle_event`]; the timer
/// events come from [`super::Session::handle_timeout`]; the message events are derived from
/// the received bytes. `RouteRefreshMsg` and `RouteRefreshMsgErr` are not in RFC 4271's list:
/// they stand for the ROUTE-REFRESH message of RFC 2918 / RFC 7313.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// Event 1: an operator starts the session.
    ManualStart,
    /// Event 2: an operator stops the session.
    ManualStop,
    /// Event 3: the local system restarts the session (here: IdleHoldTimer expiry).
    AutomaticStart,
    /// Event 4: an operator starts the session, listening only.
    ManualStart_with_PassiveTcpEstablishment,
    /// Event 5: automatic start, listening only.
    AutomaticStart_with_PassiveTcpEstablishment,
    /// Event 8: the local system stops the session (e.g. configuration change).
    AutomaticStop,
    /// Event 9: the ConnectRetryTimer expired.
    ConnectRetryTimer_Expires,
    /// Event 10: the HoldTimer expired.
    HoldTimer_Expires,
    /// Event 11: the KeepaliveTimer expired.
    KeepaliveTimer_Expires,
    /// Event 13: the IdleHoldTimer expired.
    IdleHoldTimer_Expires,
    /// Event 14: a TCP connection request for a configured peer arrived.
    TcpConnection_Valid,
    /// Event 15: a TCP connection request from an unconfigured address (refused).
    Tcp_CR_Invalid,
    /// Event 16: our outgoing TCP connection is established.
    Tcp_CR_Acked,
    /// Event 17: an incoming TCP connection is established.
    TcpConnectionConfirmed,
    /// Event 18: the TCP connection failed or was closed by the peer.
    TcpConnectionFails,
    /// Event 19: a valid OPEN arrived.
    BGPOpen,
    /// Event 21: a message header error.
    BGPHeaderErr,
    /// Event 22: an OPEN message error.
    BGPOpenMsgErr,
    /// Event 23: the connection lost the collision detection of section 6.8.
    OpenCollisionDump,
    /// Event 24: a NOTIFICATION with a version error (2/1) arrived.
    NotifMsgVerErr,
    /// Event 25: a NOTIFICATION arrived.
    NotifMsg,
    /// Event 26: a KEEPALIVE arrived.
    KeepAliveMsg,
    /// Event 27: a valid UPDATE arrived.
    UpdateMsg,
    /// Event 28: an UPDATE error that resets the session.
    UpdateMsgErr,
    /// A ROUTE-REFRESH arrived (RFC 2918, RFC 7313).
    RouteRefreshMsg,
    /// A malformed ROUTE-REFRESH arrived (RFC 7313 section 5).
    RouteRefreshMsgErr,
}

impl Event {
    /// The RFC 4271 event number (0 for the ROUTE-REFRESH events, which RFC 4271 does not list).
    pub fn number(self) -> u8 {
        use Event::*;
        match self {
            ManualStart => 1,
            ManualStop => 2,
            AutomaticStart => 3,
            ManualStart_with_PassiveTcpEstablishment => 4,
            AutomaticStart_with_PassiveTcpEstablishment => 5,
            AutomaticStop => 8,
            ConnectRetryTimer_Expires => 9,
            HoldTimer_Expires => 10,
            KeepaliveTimer_Expires => 11,
            IdleHoldTimer_Expires => 13,
            TcpConnection_Valid => 14,
            Tcp_CR_Invalid => 15,
            Tcp_CR_Acked => 16,
            TcpConnectionConfirmed => 17,
            TcpConnectionFails => 18,
            BGPOpen => 19,
            BGPHeaderErr => 21,
            BGPOpenMsgErr => 22,
            OpenCollisionDump => 23,
            NotifMsgVerErr => 24,
            NotifMsg => 25,
            KeepAliveMsg => 26,
            UpdateMsg => 27,
            UpdateMsgErr => 28,
            RouteRefreshMsg | RouteRefreshMsgErr => 0,
        }
    }
}
