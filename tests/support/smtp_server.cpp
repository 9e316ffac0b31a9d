// The test SMTP server: blocking POSIX sockets polled with a short timeout so that the destructor
// can stop every thread promptly.
#include "support/smtp_server.h"

#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <optional>
#include <stdexcept>

namespace crmsync::test {

namespace {

// Reads CRLF-terminated lines from a socket until the server stops or the peer closes.
class LineReader {
 public:
  LineReader(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}

  // The next line without its CRLF (a bare LF is accepted too); nullopt on close or stop.
  std::optional<std::string> next() {
    for (;;) {
      const auto end = buffer_.find('\n');
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      const int ready = poll(&p, 1, 50);
      if (stopping_.load()) return std::nullopt;
      if (ready <= 0) continue;
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
  std::string buffer_;
};

void send_all(int fd, const std::string& text) {
  size_t sent = 0;
  while (sent < text.size()) {
    const ssize_t n = send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// The command verb, upper-cased ("MAIL" of "mail FROM:<a@b>").
std::string verb_of(const std::string& line) {
  std::string verb = line.substr(0, line.find(' '));
  for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return verb;
}

// The address between angle brackets, or nullopt when there are none.
std::optional<std::string> path_of(const std::string& line) {
  const auto open = line.find('<');
  const auto close = line.find('>', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  return line.substr(open + 1, close - open - 1);
}

bool starts_with_nocase(const std::string& line, const std::string& prefix) {
  if (line.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(line[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

SmtpServer::SmtpServer(SmtpCredentials credentials) : credentials_(std::move(credentials)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("smtp server: socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(listen_fd_);
    throw std::runtime_error("smtp server: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

SmtpServer::~SmtpServer() {
  stopping_ = true;
  acceptor_.join();
  std::vector<std::thread> clients;
  {
    std::lock_guard lock(mutex_);
    clients.swap(clients_);
  }
  for (auto& t : clients) t.join();
  close(listen_fd_);
}

std::string SmtpServer::url() const {
  return "smtp://127.0.0.1:" + std::to_string(port_);
}

void SmtpServer::refuse_next(int count, std::string reply) {
  std::lock_guard lock(mutex_);
  refusals_left_ = count;
  refusal_ = std::move(reply);
}

std::vector<SmtpMessage> SmtpServer::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::string SmtpServer::take_refusal() {
  std::lock_guard lock(mutex_);
  if (refusals_left_ <= 0) return {};
  --refusals_left_;
  return refusal_;
}

void SmtpServer::accept_loop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    clients_.emplace_back([this, fd] {
      serve(fd);
      close(fd);
    });
  }
}

void SmtpServer::serve(int fd) {
  LineReader reader(fd, stopping_);
  send_all(fd, "220 crmsync-test ESMTP ready\r\n");
  SmtpMessage message;
  bool authenticated = credentials_.user.empty();
  auto check_plain = [&](const std::string& encoded) {
    auto decoded = crypto::base64_decode(encoded);
    // PLAIN is authzid NUL user NUL password (RFC 4616).
    if (!decoded) return false;
    const std::string& text = *decoded;
    const auto first = text.find('\0');
    const auto second = first == std::string::npos ? first : text.find('\0', first + 1);
    if (second == std::string::npos) return false;
    const std::string user = text.substr(first + 1, second - first - 1);
    if (user != credentials_.user || text.substr(second + 1) != credentials_.password) return false;
    message.auth_user = user;
    return true;
  };
  while (auto line = reader.next()) {
    const std::string verb = verb_of(*line);
    if (verb == "EHLO" || verb == "HELO") {
      message = SmtpMessage{};
      message.helo = line->size() > 5 ? line->substr(5) : "";
      if (verb == "HELO") {
        send_all(fd, "250 crmsync-test\r\n");
      } else {
        send_all(fd, std::string("250-crmsync-test\r\n250-8BITMIME\r\n") +
                         (credentials_.user.empty() ? "" : "250-AUTH PLAIN\r\n") +
                         "250 SIZE 10485760\r\n");
      }
    } else if (verb == "AUTH") {
      if (credentials_.user.empty()) {
        send_all(fd, "502 5.5.1 AUTH not offered\r\n");
        continue;
      }
      if (!starts_with_nocase(*line, "AUTH PLAIN")) {
        send_all(fd, "504 5.5.4 Unrecognized authentication type\r\n");
        continue;
      }
      std::string encoded = line->size() > 11 ? line->substr(11) : "";
      if (encoded.empty()) {
        send_all(fd, "334 \r\n");
        auto answer = reader.next();
        if (!answer) return;
        encoded = *answer;
      }
      authenticated = check_plain(encoded);
      send_all(fd, authenticated ? "235 2.7.0 Authentication successful\r\n"
                                 : "535 5.7.8 Authentication credentials invalid\r\n");
    } else if (verb == "MAIL") {
      auto path = path_of(*line);
      if (!authenticated) {
        send_all(fd, "530 5.7.0 Authentication required\r\n");
      } else if (!path || !starts_with_nocase(*line, "MAIL FROM:")) {
        send_all(fd, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
      } else {
        message.mail_from = *path;
        message.rcpt_to.clear();
        send_all(fd, "250 2.1.0 Ok\r\n");
      }
    } else if (verb == "RCPT") {
      auto path = path_of(*line);
      if (!path || !starts_with_nocase(*line, "RCPT TO:")) {
        send_all(fd, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
      } else if (message.mail_from.empty()) {
        send_all(fd, "503 5.5.1 MAIL first\r\n");
      } else {
        message.rcpt_to.push_back(*path);
        send_all(fd, "250 2.1.5 Ok\r\n");
      }
    } else if (verb == "DATA") {
      if (message.rcpt_to.empty()) {
        send_all(fd, "503 5.5.1 RCPT first\r\n");
        continue;
      }
      send_all(fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
      std::string data;
      for (;;) {
        auto data_line = reader.next();
        if (!data_line) return;
        if (*data_line == ".") break;
        // Dot-unstuffing (RFC 5321 §4.5.2).
        if (!data_line->empty() && data_line->front() == '.') data_line->erase(0, 1);
        data += *data_line + "\r\n";
      }
      message.data = std::move(data);
      if (std::string refusal = take_refusal(); !refusal.empty()) {
        send_all(fd, refusal + "\r\n");
      } else {
        {
          std::lock_guard lock(mutex_);
          messages_.push_back(message);
        }
        send_all(fd, "250 2.0.0 Ok: queued\r\n");
      }
      message.mail_from.clear();
      message.rcpt_to.clear();
      message.data.clear();
    } else if (verb == "RSET") {
      message.mail_from.clear();
      message.rcpt_to.clear();
      send_all(fd, "250 2.0.0 Ok\r\n");
    } else if (verb == "NOOP") {
      send_all(fd, "250 2.0.0 Ok\r\n");
    } else if (verb == "QUIT") {
      send_all(fd, "221 2.0.0 Bye\r\n");
      return;
    } else {
      send_all(fd, "502 5.5.2 Command not recognized\r\n");
    }
  }
}

}  // namespace crmsync::test
