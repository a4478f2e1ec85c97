// The few things Swift cannot say cleanly about Linux sockets and epoll, for TollgateLoop
// (Sources/Loop). `struct epoll_event` is packed on x86-64 (its 64-bit `data` sits at offset 4),
// which Swift does not import faithfully: the helpers below read and write it in C. Everything
// else (read, readv, sendmsg, close, shutdown, eventfd) Swift calls through Glibc directly.
//
// Functions return -errno on failure so the caller never reads a thread-local `errno` that another
// call in between may have changed.
#ifndef TOLLGATE_CEVENTLOOPSHIM_H
#define TOLLGATE_CEVENTLOOPSHIM_H

#include <stdint.h>
#include <stddef.h>

/// The byte size of one `struct epoll_event` (12 on x86-64, 16 where it is not packed).
size_t tg_epoll_event_size(void);
/// The `events` and `data.u64` of the `index`-th entry of an array of `struct epoll_event`.
uint32_t tg_epoll_event_events(const void *events, int index);
uint64_t tg_epoll_event_token(const void *events, int index);

/// epoll_create1(EPOLL_CLOEXEC); an fd or -errno.
int tg_epoll_create(void);
/// epoll_ctl with a 64-bit token as `data.u64`; 0 or -errno. `op` is 1 add, 2 delete, 3 modify.
int tg_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// epoll_wait into `events` (an array of `capacity` packed entries); the count, or -errno (EINTR included).
int tg_epoll_wait(int epfd, void *events, int capacity, int timeout_ms);

/// The epoll flag values, as unsigned 32-bit (the Glibc enum imports signed, EPOLLET overflows).
uint32_t tg_epollin(void);
uint32_t tg_epollout(void);
uint32_t tg_epollrdhup(void);
uint32_t tg_epollhup(void);
uint32_t tg_epollerr(void);
uint32_t tg_epollet(void);

/// A TCP listener on an IPv4 address (network byte order) and port, non-blocking and close-on-exec,
/// SO_REUSEADDR always, SO_REUSEPORT when `reuse_port` (one listener per loop on the same port);
/// the fd or -errno.
int tg_listen_tcp4(uint32_t address_be, uint16_t port, int backlog, int reuse_port);
/// The local port of a bound socket, or -errno.
int tg_local_port(int fd);
/// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) without the peer address; the fd or -errno.
int tg_accept(int listener);
/// A non-blocking, close-on-exec TCP socket connecting to an IPv4 address and port; the fd or
/// -errno. `*in_progress` is 1 when the connect is still under way (EINPROGRESS): completion is
/// EPOLLOUT, then `tg_socket_error`.
int tg_connect_tcp4(uint32_t address_be, uint16_t port, int *in_progress);
/// SO_ERROR of a socket (0 when the pending connect succeeded), or -errno of getsockopt itself.
int tg_socket_error(int fd);
/// TCP_NODELAY on; 0 or -errno.
int tg_set_nodelay(int fd);
/// SO_LINGER {on, 0}: close() then sends RST instead of FIN; 0 or -errno.
int tg_set_linger_zero(int fd);
/// An eventfd (non-blocking, close-on-exec), or -errno.
int tg_eventfd(void);
/// Adds 1 to an eventfd (wakes a loop waiting on it); 0 or -errno.
int tg_eventfd_signal(int fd);
/// Reads (and so resets) an eventfd's counter; 0 or -errno (-EAGAIN when it was zero).
int tg_eventfd_drain(int fd);
/// Names the calling thread (at most 15 bytes are kept), for top and perf.
void tg_set_thread_name(const char *name);
/// CLOCK_MONOTONIC in milliseconds.
uint64_t tg_monotonic_ms(void);

#endif
