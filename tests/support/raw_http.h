// A raw HTTP/1.1 client over a loopback socket, for what a well-behaved client library would not
// do: send headers and hold the body back, overflow the headers, stall, count connections.
#ifndef CRMSYNC_TESTS_SUPPORT_RAW_HTTP_H
#define CRMSYNC_TESTS_SUPPORT_RAW_HTTP_H

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace crmsync::test {

// One connection to 127.0.0.1:port.
struct RawClient {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket{io};

  explicit RawClient(uint16_t port) {
    socket.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  }
  void send(const std::string& bytes) { boost::asio::write(socket, boost::asio::buffer(bytes)); }
  // Reads one response (headers and a Content-Length body); "" when the server closed.
  std::string read_response() {
    std::string data;
    char chunk[4096];
    boost::system::error_code ec;
    for (;;) {
      const size_t header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const size_t at = data.find("Content-Length: ");
        const size_t length = at == std::string::npos ? 0 : std::stoul(data.substr(at + 16));
        if (data.size() >= header_end + 4 + length) return data.substr(0, header_end + 4 + length);
      }
      const size_t n = socket.read_some(boost::asio::buffer(chunk), ec);
      if (ec) return data;
      data.append(chunk, n);
    }
  }
  // True when the server closes the connection within timeout.
  bool closed_within(std::chrono::milliseconds timeout) {
    socket.non_blocking(true);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char byte;
    while (std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      socket.read_some(boost::asio::buffer(&byte, 1), ec);
      if (ec && ec != boost::asio::error::would_block) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

// The status code of a response read by RawClient; 0 when there was none.
inline int status_of(const std::string& response) {
  return response.size() > 12 ? std::stoi(response.substr(9, 3)) : 0;
}

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_RAW_HTTP_H
