#include "common/unix_socket.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"

namespace veil {

namespace {

[[noreturn]] void invalidSocket(int fd, const std::string& why) {
  throw VeilException("VEIL_INVALID_ARGUMENT", "descriptor " + std::to_string(fd) + " " + why);
}

[[noreturn]] void notifyFailed(const std::string& why) {
  throw VeilException("VEIL_SYSTEMD_NOTIFY_FAILED", "cannot notify the service manager: " + why);
}

constexpr time_t kNotifySendTimeoutSeconds = 2;

int intOption(int fd, int option) {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) {
    const int err = errno;
    if (err == EBADF) invalidSocket(fd, "is not open");
    if (err == ENOTSOCK) invalidSocket(fd, "is not a socket");
    invalidSocket(fd, std::string("cannot be queried: ") + std::strerror(err));
  }
  return value;
}

// Closes the notification socket on every path out.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

PeerCredentials peerCredentials(int fd) {
  // SO_PEERCRED answers for any socket: for TCP it gives pid 0 and the overflow uid, for an
  // unconnected Unix socket pid 0, for a listening one this process's own credentials. So
  // the kind of socket and the connection are checked first.
  if (intOption(fd, SO_DOMAIN) != AF_UNIX) invalidSocket(fd, "is not a Unix socket");
  const int type = intOption(fd, SO_TYPE);
  if (type != SOCK_STREAM && type != SOCK_SEQPACKET) invalidSocket(fd, "is not a Unix stream socket");
  sockaddr_un peer{};
  socklen_t peerLength = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLength) != 0) {
    const int err = errno;
    if (err == ENOTCONN) invalidSocket(fd, "is not connected");
    invalidSocket(fd, std::string("has no peer: ") + std::strerror(err));
  }
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    invalidSocket(fd, std::string("has no peer credentials: ") + std::strerror(errno));
  }
  if (length != sizeof credentials) invalidSocket(fd, "has no peer credentials");
  return PeerCredentials{credentials.pid, credentials.uid, credentials.gid};
}

bool systemdNotify(const std::string& state) {
  // Read on each call, as libsystemd does: the daemon may clear it before starting children.
  const char* address = std::getenv("NOTIFY_SOCKET");
  if (address == nullptr || address[0] == '\0') return false;
  const size_t length = std::strlen(address);

  sockaddr_un target{};
  target.sun_family = AF_UNIX;
  socklen_t targetLength = 0;
  if (address[0] == '@') {
    // Abstract namespace: a leading NUL, then the name; the length, not a NUL, ends it.
    if (length < 2 || length > sizeof target.sun_path) {
      notifyFailed("NOTIFY_SOCKET holds an abstract address that is empty or longer than 107 bytes");
    }
    std::memcpy(target.sun_path + 1, address + 1, length - 1);
    targetLength = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  } else if (address[0] == '/') {
    if (length >= sizeof target.sun_path) notifyFailed("NOTIFY_SOCKET holds a path longer than 107 bytes");
    std::memcpy(target.sun_path, address, length);
    targetLength = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length + 1);
  } else {
    notifyFailed("NOTIFY_SOCKET is neither an absolute path nor an abstract address ('@name')");
  }

  // Close-on-exec, so no child the daemon starts inherits it.
  Descriptor notify(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (notify.get() < 0) notifyFailed(std::string("socket: ") + std::strerror(errno));
  // The send runs on the JavaScript thread and blocks while systemd's queue is full: wait
  // a while (a dropped READY=1 fails the start), but never forever.
  const timeval timeout{kNotifySendTimeoutSeconds, 0};
  if (::setsockopt(notify.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0) {
    notifyFailed(std::string("setsockopt: ") + std::strerror(errno));
  }
  ssize_t sent;
  do {
    sent = ::sendto(notify.get(), state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&target), targetLength);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    notifyFailed(std::string(address) + ": no room in its queue for " + std::to_string(kNotifySendTimeoutSeconds) +
                 " s");
  }
  if (sent < 0) notifyFailed(std::string(address) + ": " + std::strerror(errno));
  // A datagram goes whole or not at all; anything else is not the protocol.
  if (static_cast<size_t>(sent) != state.size()) notifyFailed(std::string(address) + ": short send");
  return true;
}

}  // namespace veil
