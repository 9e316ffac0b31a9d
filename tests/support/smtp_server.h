// A small SMTP server on loopback for tests: it speaks enough of RFC 5321 for libcurl (EHLO/HELO,
// optional AUTH PLAIN, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps
// every accepted message for assertions, and can be told to refuse messages.
#ifndef CRMSYNC_TESTS_SUPPORT_SMTP_SERVER_H
#define CRMSYNC_TESTS_SUPPORT_SMTP_SERVER_H

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crmsync::test {

// One message the server accepted.
struct SmtpMessage {
  std::string helo;                  // the client's EHLO/HELO argument
  std::string auth_user;             // the AUTH PLAIN user; empty without AUTH
  std::string mail_from;             // the reverse path, without the angle brackets
  std::vector<std::string> rcpt_to;  // forward paths, without the angle brackets
  std::string data;                  // the message, dot-unstuffed, CRLF line ends
};

// Credentials the server demands (AUTH PLAIN before MAIL FROM); empty user: no AUTH offered.
struct SmtpCredentials {
  std::string user;
  std::string password;
};

// Listens on 127.0.0.1 (a free port) from construction to destruction; one thread per client.
// Throws std::runtime_error when it cannot listen.
class SmtpServer {
 public:
  explicit SmtpServer(SmtpCredentials credentials = {});
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // The bound port, and "smtp://127.0.0.1:<port>".
  uint16_t port() const noexcept { return port_; }
  std::string url() const;

  // The next `count` messages are answered with `reply` (e.g. "451 4.3.0 Try again later")
  // after their DATA instead of 250, and are not kept.
  void refuse_next(int count, std::string reply);

  // The accepted messages so far, oldest first.
  std::vector<SmtpMessage> messages() const;
  // Connections accepted so far.
  int connections() const noexcept { return connections_.load(); }

 private:
  void accept_loop();
  void serve(int fd);
  // The refusal reply for the message just received, or empty to accept it.
  std::string take_refusal();

  SmtpCredentials credentials_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;  // guards everything below
  std::vector<SmtpMessage> messages_;
  int refusals_left_ = 0;
  std::string refusal_;
  std::vector<std::thread> clients_;
  std::thread acceptor_;
};

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_SMTP_SERVER_H
