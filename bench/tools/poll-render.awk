# etcdctl get --prefix prints each key on one line and its value on the next.
NR % 2 == 1 { key = $0; next }
{
  split(key, p, "/") # "", calico, bgp, v1, then the Calico path
  if (p[5] == "global" && p[6] == "as_num") as = $0
  else if (p[5] == "rr_v4" && p[6] != me) mesh[p[6]] = 1
  else if (p[5] == "host" && p[7] == "ip_addr_v4") addr[p[6]] = $0
  else if (p[5] == "host" && p[7] == "peer_v4" && p[8] == me) client[p[6]] = 1
}
function sym(ip) { gsub(/[.:]/, "_", ip); return ip }
END {
  if (as == "") as = 64511
  for (ip in mesh) printf "protocol bgp Mesh_%s { local as %s; neighbor %s as %s; }\n", sym(ip), as, ip, as
  for (n in client) if (n in addr) printf "protocol bgp Node_%s { local as %s; neighbor %s as %s; rr client; }\n", sym(addr[n]), as, addr[n], as
}
