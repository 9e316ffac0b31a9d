// Loopback ports for tests of what happens when nothing answers.
#ifndef CRMSYNC_TESTS_SUPPORT_PORTS_H
#define CRMSYNC_TESTS_SUPPORT_PORTS_H

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace crmsync::test {

// A loopback port nothing listens on (bound for a moment by this process, then released).
inline uint16_t closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_PORTS_H
