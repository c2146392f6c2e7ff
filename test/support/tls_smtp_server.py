"""A small scripted SMTP server on Python's ssl (OpenSSL), for the TLS faults that smtp-server cannot
make: only old TLS versions, ciphers Node does not offer, a required client certificate, STARTTLS
answered with an error. Speaks just enough SMTP for a probe or a send (EHLO, STARTTLS, AUTH PLAIN/LOGIN,
MAIL, RCPT, DATA, RSET, QUIT). Prints "READY" once it accepts connections."""
import argparse
import socket
import ssl
import sys
import threading

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["starttls", "implicit"], required=True)
p.add_argument("--cert", required=True)
p.add_argument("--key", required=True)
p.add_argument("--tls-min", default="TLSv1_2")
p.add_argument("--tls-max", default="TLSv1_3")
p.add_argument("--ciphers")
p.add_argument("--client-ca", help="require a client certificate signed by this CA")
p.add_argument("--starttls-reply", help='answer STARTTLS with this line instead of "220"')
a = p.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)
ctx.minimum_version = getattr(ssl.TLSVersion, a.tls_min)
ctx.maximum_version = getattr(ssl.TLSVersion, a.tls_max)
if a.ciphers:
    ctx.set_ciphers(a.ciphers)
if a.client_ca:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(a.client_ca)


def serve(conn):
    tls = a.mode == "implicit"
    try:
        if tls:
            conn = ctx.wrap_socket(conn, server_side=True)
        f = conn.makefile("rb")
        conn.sendall(b"220 scripted.test ESMTP\r\n")
        in_data = False
        while True:
            line = f.readline()
            if not line:
                return
            if in_data:
                if line in (b".\r\n", b".\n"):
                    in_data = False
                    conn.sendall(b"250 2.0.0 Ok: queued as SCRIPTED1\r\n")
                continue
            cmd = line.strip().split(b" ")[0].upper()
            if cmd == b"EHLO":
                ext = b"" if tls else b"250-STARTTLS\r\n"
                conn.sendall(b"250-scripted.test\r\n" + ext + b"250 AUTH PLAIN LOGIN\r\n")
            elif cmd == b"STARTTLS" and not tls:
                if a.starttls_reply:
                    conn.sendall(a.starttls_reply.encode() + b"\r\n")
                    continue
                conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                conn = ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
                tls = True
            elif cmd == b"AUTH":
                conn.sendall(b"235 2.7.0 Authentication successful\r\n")
            elif cmd == b"DATA":
                in_data = True
                conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif cmd == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 Ok\r\n")
    except (OSError, ssl.SSLError) as e:
        print("ERROR", type(e).__name__, e, flush=True)
    finally:
        try:
            conn.close()
        except OSError:
            pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", a.port))
srv.listen(16)
print("READY", flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
