"""nginx in front of serviceflow instances: Debian's nginx on a free loopback port in a temp dir,
proxying with deploy/nginx/proxy.conf (the file the docs tell users to include)."""
import os, shutil, subprocess, tempfile, time
import sfharness as h

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY_CONF = os.path.join(HERE, "..", "..", "deploy", "nginx", "proxy.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

MAIN = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $sf_connection {{
        default upgrade;
        ''      '';
    }}
    upstream serviceflow {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://serviceflow;
            include {proxy_conf};
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, upstream_ports, server_opts="max_fails=1 fail_timeout=5s"):
        self.dir = tempfile.mkdtemp(prefix="sf-nginx-")
        os.chmod(self.dir, 0o777)  # as root, nginx's workers run as nobody and write temp files here
        self.port = h.free_port()
        servers = "\n".join("        server 127.0.0.1:%d %s;" % (p, server_opts) for p in upstream_ports)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(MAIN.format(dir=self.dir, servers=servers, port=self.port,
                                proxy_conf=os.path.abspath(PROXY_CONF)))
        self.stderr = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen([NGINX, "-c", conf, "-p", self.dir], stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx did not start:\n" + self.log())
            try:
                h.req(self, "GET", "/healthz")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen:\n" + self.log())

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def log(self):
        out = ""
        for name in ("stderr", "error.log"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                out += open(p, errors="replace").read()
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
