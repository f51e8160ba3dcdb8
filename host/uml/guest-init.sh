#!/bin/sh
# guest-init.sh - PID 1 inside User-mode Linux for netcard's real-pppd tests.
# The root file system is the host's "/" through hostfs, so everything that
# pppd would write (/run, /etc/ppp) is first covered by UML-private tmpfs.
#
# Kernel command line KEY=VAL words arrive as environment variables:
#   NC_OUT     host directory (through hostfs) used to talk to the host harness.
#   NC_INSMOD  a binary that loads kernel modules when NETCARD_UML_INSMOD=1
#              (the harness passes its own executable).
#
# Protocol with the host (files in $NC_OUT; the guest polls with ls, i.e.
# readdir, because hostfs caches negative lookups):
#   host writes run-N.opts      (pppd options, one or more per line; read
#                                with pppd's "file"), optionally first
#                                run-N.pap-secrets, run-N.chap-secrets,
#                                run-N.cmd (sh script run after ip-up)
#   guest writes run-N.started, run-N.ipup (IFNAME= IPLOCAL= IPREMOTE= DNS1= DNS2=),
#                run-N.pppd.log, run-N.cmd.log, run-N.cmd.rc, run-N.rc
#   host writes run-N.stop      -> guest sends SIGTERM to pppd (LCP
#                                Terminate-Request) and writes run-N.rc
#   host writes quit            -> guest powers off
# N counts from 1. Never add pppd's "record" option: it leaves ttyS0 in
# N_TTY, and once N_TTY throttles, UML 6.1 never re-enables the line's input.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run && mkdir -p /run/lock /run/nc
mount -t tmpfs tmpfs /etc/ppp
echo "nameserver 127.0.0.1" > /run/nc/resolv.conf
mount --bind /run/nc/resolv.conf /etc/resolv.conf
echo /bin/true > /proc/sys/kernel/modprobe
hostname uml
ip link set lo up

# No /lib/modules/<uml version> on the host: load by path, in dependency
# order. The harness's own binary does it with finit_module(2) (NC_INSMOD,
# see insmod.go), so kmod is not needed; insmod and python3 are fallbacks.
M=/usr/lib/uml/modules/$(uname -r)/kernel
load() {
  if [ -n "$NC_INSMOD" ] && [ -x "$NC_INSMOD" ] && NETCARD_UML_INSMOD=1 "$NC_INSMOD" "$1"; then return 0; fi
  if command -v insmod >/dev/null; then insmod "$1"; return; fi
  python3 -c 'import ctypes,os,sys
l=ctypes.CDLL(None,use_errno=True); fd=os.open(sys.argv[1],os.O_RDONLY)
sys.exit(0 if l.syscall(313,fd,b"",0)==0 else "finit_module %s: errno %d"%(sys.argv[1],ctypes.get_errno()))' "$1"
}
# ipv6 (a module in Debian's UML kernel) before the PPP driver, so ppp0
# gets IPv6 and pppd's +ipv6 (IPV6CP, RFC 5072) can configure it.
for m in lib/crc-ccitt net/ipv6/ipv6 drivers/net/slip/slhc drivers/net/ppp/ppp_generic \
         drivers/net/ppp/ppp_async; do
  load "$M/$m.ko" 2>>/run/nc/insmod.err
done

OUT=$NC_OUT
log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*" >> "$OUT/guest.log"; }
# Forks are slow in UML: one ls per poll, matched by the shell itself.
NL='
'
L=""
scan() { L="$NL$(ls "$OUT" 2>/dev/null)$NL"; }
# put FILE VALUE: write a result file atomically (the host polls for it).
put() { echo "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }
has() { case "$L" in *"$NL$1$NL"*) return 0;; esac; return 1; }

cat > /etc/ppp/ip-up <<'IPUP'
#!/bin/sh
# args: iface tty speed local remote ipparam(= result file prefix)
# DNS1/DNS2 are set by pppd with usepeerdns (RFC 1877 addresses from the peer).
echo "IFNAME=$1 IPLOCAL=$4 IPREMOTE=$5 DNS1=$DNS1 DNS2=$DNS2" > "$6.ipup.tmp" && mv "$6.ipup.tmp" "$6.ipup"
IPUP
chmod +x /etc/ppp/ip-up
# ipv6-up (pppd +ipv6): args iface tty speed local-LL remote-LL ipparam.
# Written to the guest's tmpfs (a run's command polls it there: hostfs
# caches negative lookups) and to the host directory.
cat > /etc/ppp/ipv6-up <<'IP6UP'
#!/bin/sh
echo "IFNAME=$1 LLLOCAL=$4 LLREMOTE=$5" > /run/nc/ip6up
cp /run/nc/ip6up "$6.ip6up.tmp" && mv "$6.ip6up.tmp" "$6.ip6up"
IP6UP
chmod +x /etc/ppp/ipv6-up
log "init: kernel $(uname -r) ready; modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
log "module loader: ${NC_INSMOD:-$(command -v insmod || echo python3)}"
[ -s /run/nc/insmod.err ] && log "insmod errors: $(cat /run/nc/insmod.err)"
[ -c /dev/ppp ] || log "no /dev/ppp: $(ls -l /dev/ppp /dev/ttyS0 2>&1)"
echo ready > "$OUT/ready"

n=1
while :; do
  scan
  while ! has "run-$n.opts" && ! has quit; do sleep 0.1; scan; done
  has "run-$n.opts" || break
  P=$OUT/run-$n
  : > /etc/ppp/options
  rm -f /etc/ppp/pap-secrets /etc/ppp/chap-secrets
  [ -f "$P.pap-secrets" ] && cp "$P.pap-secrets" /etc/ppp/pap-secrets
  [ -f "$P.chap-secrets" ] && cp "$P.chap-secrets" /etc/ppp/chap-secrets
  chmod 600 /etc/ppp/*-secrets 2>/dev/null
  log "run $n: pppd $(tr '\n' ' ' < "$P.opts")"
  rm -f /run/nc/ip6up
  pppd /dev/ttyS0 115200 nodetach noauth local nocrtscts nolock \
       lcp-echo-interval 0 debug kdebug 0 logfile "$P.pppd.log" ipparam "$P" \
       file "$P.opts" > "$P.pppd.out" 2>&1 &
  PPPD=$!
  echo "$PPPD" > "$P.started"
  cmddone=0
  scan
  while kill -0 $PPPD 2>/dev/null && ! has "run-$n.stop"; do
    if [ $cmddone = 0 ] && has "run-$n.ipup"; then
      cmddone=1
      log "run $n: up: $(cat "$P.ipup")"
      if [ -f "$P.cmd" ]; then
        ( . "$P.ipup"; export IFNAME IPLOCAL IPREMOTE; sh "$P.cmd" > "$P.cmd.log" 2>&1; put "$P.cmd.rc" $? )
      fi
    fi
    sleep 0.1
    scan
  done
  kill $PPPD 2>/dev/null
  wait $PPPD
  rc=$?
  log "run $n: pppd exited $rc"
  put "$P.rc" $rc
  n=$((n+1))
done
log "quit"
sync
# poweroff -f -f calls reboot(2) directly (no init system needed); the
# sysrq fallback is asynchronous, hence the sleep. PID 1 exiting panics UML.
poweroff -f -f 2>/dev/null || echo o > /proc/sysrq-trigger
sleep 10
