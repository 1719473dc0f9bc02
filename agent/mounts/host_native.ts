// The rest of what the daemon needs from the native core, through the one folder that
// imports it: the transport key and key deliveries, the key table (never material), the
// control socket's peer credentials and systemd's readiness protocol.
export {
  installDelivery,
  keys,
  offline,
  peerCredentials,
  systemdNotify,
  transportPublicKey,
  type DeliveryResult,
  type KeyInfo,
} from '../../native/core.js';
