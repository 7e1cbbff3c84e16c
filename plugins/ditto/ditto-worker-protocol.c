/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Framing of the worker protocol (see ditto-worker-protocol.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ditto-worker-protocol.h"

#include <gio/gio.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>

static void
set_errno_error (GError ** error, gint err, const gchar * what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", what,
      g_strerror (err));
}

gint
ditto_msg_connect (const gchar * path, GError ** error)
{
  struct sockaddr_un addr;
  gint sock;

  if (strlen (path) >= sizeof (addr.sun_path)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
        "socket path too long: %s", path);
    return -1;
  }
  sock = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    set_errno_error (error, errno, "socket");
    return -1;
  }
  memset (&addr, 0, sizeof (addr));
  addr.sun_family = AF_UNIX;
  strcpy (addr.sun_path, path);
  if (connect (sock, (struct sockaddr *) &addr, sizeof (addr)) < 0) {
    gint err = errno;
    close (sock);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
        "cannot connect to %s: %s", path, g_strerror (err));
    return -1;
  }
  return sock;
}

static gboolean
wait_fd (gint sock, short events, gint timeout_ms, GError ** error)
{
  struct pollfd p = { sock, events, 0 };
  gint r;

  do {
    r = poll (&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    set_errno_error (error, errno, "poll");
    return FALSE;
  }
  if (r == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
        "no answer within %d ms", timeout_ms);
    return FALSE;
  }
  return TRUE;
}

gboolean
ditto_msg_send (gint sock, guint32 type, const void *body, gsize body_len,
    gint fd, gint timeout_ms, GError ** error)
{
  guint32 head = GUINT32_TO_LE (type);
  struct iovec iov[2] = { {&head, 4}, {(void *) body, body_len} };
  struct msghdr mh;
  union {
    struct cmsghdr align;
    gchar buf[CMSG_SPACE (sizeof (gint))];
  } ctl;
  ssize_t n;

  memset (&mh, 0, sizeof (mh));
  mh.msg_iov = iov;
  mh.msg_iovlen = body_len ? 2 : 1;
  if (fd >= 0) {
    struct cmsghdr *c;
    memset (&ctl, 0, sizeof (ctl));
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof (ctl.buf);
    c = CMSG_FIRSTHDR (&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (sizeof (gint));
    memcpy (CMSG_DATA (c), &fd, sizeof (gint));
  }
  for (;;) {
    n = sendmsg (sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
      return TRUE;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd (sock, POLLOUT, timeout_ms, error))
        return FALSE;
      continue;
    }
    set_errno_error (error, errno, "send");
    return FALSE;
  }
}

gint
ditto_msg_recv (gint sock, DittoMsg * msg, gint timeout_ms, GError ** error)
{
  struct iovec iov;
  struct msghdr mh;
  union {
    struct cmsghdr align;
    gchar buf[CMSG_SPACE (sizeof (gint) * 4)];
  } ctl;
  struct cmsghdr *c;
  ssize_t n;

  memset (msg, 0, sizeof (*msg));
  msg->fd = -1;
  if (!wait_fd (sock, POLLIN, timeout_ms, error))
    return -1;
  /* a packet's size, without taking it (Linux: MSG_TRUNC gives the real length) */
  do {
    n = recv (sock, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNRESET) {
    set_errno_error (error, errno, "receive");
    return -1;
  }
  n = CLAMP (n, 4, DITTO_MSG_MAX);
  msg->data = g_malloc (n);
  iov.iov_base = msg->data;
  iov.iov_len = n;
  memset (&mh, 0, sizeof (mh));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.buf;
  mh.msg_controllen = sizeof (ctl.buf);
  do {
    n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    gint err = errno;
    ditto_msg_clear (msg);
    if (err == ECONNRESET)
      return 0;
    set_errno_error (error, err, "receive");
    return -1;
  }
  for (c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      gint nfd = (c->cmsg_len - CMSG_LEN (0)) / sizeof (gint), i, fds[4];
      memcpy (fds, CMSG_DATA (c), MIN (nfd, 4) * sizeof (gint));
      for (i = 0; i < MIN (nfd, 4); i++) {
        if (msg->fd < 0)
          msg->fd = fds[i];
        else
          close (fds[i]);
      }
    }
  }
  if (n == 0) {
    ditto_msg_clear (msg);
    return 0;
  }
  if (n < 4) {
    ditto_msg_clear (msg);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "short message of %zd bytes", n);
    return -1;
  }
  msg->type = GUINT32_FROM_LE (*(guint32 *) msg->data);
  msg->body = msg->data + 4;
  msg->body_len = n - 4;
  return 1;
}

void
ditto_msg_clear (DittoMsg * msg)
{
  if (msg->fd >= 0)
    close (msg->fd);
  g_free (msg->data);
  memset (msg, 0, sizeof (*msg));
  msg->fd = -1;
}

guint32
ditto_msg_u32 (const DittoMsg * msg, gsize offset)
{
  guint32 v = 0;
  if (offset + 4 <= msg->body_len)
    memcpy (&v, msg->body + offset, 4);
  return GUINT32_FROM_LE (v);
}

guint64
ditto_msg_u64 (const DittoMsg * msg, gsize offset)
{
  guint64 v = 0;
  if (offset + 8 <= msg->body_len)
    memcpy (&v, msg->body + offset, 8);
  return GUINT64_FROM_LE (v);
}
