// Two Unix-socket calls the host daemon needs: who is at the other end of a connection
// (SO_PEERCRED), and the service manager's readiness protocol (sd_notify) without libsystemd.
#pragma once

#include <sys/types.h>

#include <string>

namespace veil {

struct PeerCredentials {
  pid_t pid;  // 0 when the peer is in a PID namespace this process cannot see into
  uid_t uid;
  gid_t gid;
};

// The credentials the kernel recorded when the peer connected (or, for the accepted end,
// when it called connect): not forgeable by the peer. `fd` must be a connected AF_UNIX
// stream or seqpacket socket; anything else is VEIL_INVALID_ARGUMENT.
PeerCredentials peerCredentials(int fd);

// Sends `state` as one datagram to $NOTIFY_SOCKET (a path, or an abstract address when it
// starts with '@'). False when $NOTIFY_SOCKET is unset or empty (not started by systemd);
// VEIL_SYSTEMD_NOTIFY_FAILED when the address is unusable or the send fails (a listener
// that leaves its queue full fails it after 2 s: it runs on the JavaScript thread).
bool systemdNotify(const std::string& state);

}  // namespace veil
