// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// In-kernel forwarding of latched, plain RTP for the VSS relay (TC ingress, tcx).
//
// The relay's workers put one entry per leg direction into `vss_fwd` once that direction
// is plain forwarding (see media/src/relay/kernel.rs). A packet that matches an entry by
// its 4-tuple gets the addresses and ports of the relay's other leg and the other peer,
// and is delivered locally (the other peer is on this host) or redirected to the egress
// interface the FIB names. Everything else (no entry, another source, RTCP, DTMF, IP
// options, fragments, a route the kernel cannot resolve) continues untouched to the
// socket, where the userspace relay handles it exactly as without this program.
//
// Return codes: TC_ACT_UNSPEC (== TCX_NEXT) lets the next program of the tcx chain (or
// the stack) see a packet we leave alone; TC_ACT_OK (== TCX_PASS) ends the chain for a
// packet we rewrote for local delivery.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2

/* The entry's new destination is an address of this host (set by userspace). */
#define FWD_LOCAL 1
/* dtmf_pt slot not in use (RTP payload types are 7 bits). */
#define PT_NONE 0xff

/* Where the checksums are, counted from the Ethernet header. */
#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + __builtin_offsetof(struct iphdr, check))
#define IP_ADDR_OFF (IP_OFF + __builtin_offsetof(struct iphdr, saddr))
#define UDP_OFF (IP_OFF + sizeof(struct iphdr))
#define UDP_CSUM_OFF (UDP_OFF + __builtin_offsetof(struct udphdr, check))
#define RTP_OFF (UDP_OFF + sizeof(struct udphdr))
#define RTP_HLEN 12

/* All in network byte order: the fields are compared and copied as they are on the wire.
 * Our port identifies the leg on this host; the address the peer sends it to is checked
 * in the value (match_dst), so that a relay bound to 0.0.0.0 matches whichever of this
 * host's addresses the peer uses (the advertised one, or a NATed public address's
 * private twin). */
struct fwd_key {
	__be32 src_ip;   /* the latched peer */
	__be16 src_port;
	__be16 dst_port; /* our RTP port of this leg */
};

struct fwd_value {
	__be32 new_src_ip; /* the other leg's relay address */
	__be32 new_dst_ip; /* the other peer */
	__be16 new_src_port;
	__be16 new_dst_port;
	__u8 dtmf_pt[4]; /* telephone-event payload types: left to userspace */
	__u32 flags;
	__be32 match_dst; /* our address the packet must be sent to; 0: any (wildcard bind) */
	/* Written here only; userspace reads them. */
	__u64 packets;
	__u64 bytes; /* UDP payload octets, as the userspace relay counts */
	__u64 last_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last hit */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* set by the loader: one per RTP port of the range */
	__type(key, struct fwd_key);
	__type(value, struct fwd_value);
} vss_fwd SEC(".maps");

/* Program-wide counters, per CPU. */
enum {
	STAT_LOCAL,     /* rewritten and delivered to a local socket */
	STAT_REDIRECT,  /* rewritten and redirected to an egress interface */
	STAT_DTMF,      /* matched, but a telephone-event packet: left to userspace */
	STAT_NOT_RTP,   /* matched, but RTCP (rtcp-mux) or not RTP version 2 */
	STAT_FIB_PASS,  /* matched, but no usable route: left to userspace */
	STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vss_stats SEC(".maps");

/* The relay's RTP port range (host byte order): other UDP traffic skips the map lookup. */
volatile const __u16 port_lo = 1;
volatile const __u16 port_hi = 65535;

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&vss_stats, &which);
	if (c)
		*c += 1;
}

SEC("classifier")
int vss_forward(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	/* A GSO super-packet is many datagrams: not RTP as we count it. */
	if (skb->gso_segs > 1)
		return TC_ACT_UNSPEC;
	/* Headers a driver left in page fragments: make the ones we read linear. */
	if ((long)skb->data + RTP_OFF + RTP_HLEN > (long)skb->data_end) {
		if (skb->len < RTP_OFF + RTP_HLEN || bpf_skb_pull_data(skb, RTP_OFF + RTP_HLEN))
			return TC_ACT_UNSPEC;
	}
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + IP_OFF;
	struct udphdr *udp = data + UDP_OFF;
	__u8 *rtp = data + RTP_OFF;
	if ((void *)(rtp + RTP_HLEN) > end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	/* IPv4 without options, not a fragment (MF set or an offset), UDP. */
	if (ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC;
	if (ip->frag_off & bpf_htons(0x3fff))
		return TC_ACT_UNSPEC;
	__u16 dport = bpf_ntohs(udp->dest);
	if (dport < port_lo || dport > port_hi)
		return TC_ACT_UNSPEC;

	struct fwd_key key = {
		.src_ip = ip->saddr,
		.src_port = udp->source,
		.dst_port = udp->dest,
	};
	struct fwd_value *v = bpf_map_lookup_elem(&vss_fwd, &key);
	if (!v)
		return TC_ACT_UNSPEC;
	if (v->match_dst && v->match_dst != ip->daddr)
		return TC_ACT_UNSPEC;

	/* RTP version 2; RTCP multiplexed on the RTP port (RFC 5761 §4: 192..223) and RFC 4733
	 * events stay in userspace (statistics, DTMF detection). */
	__u8 b1 = rtp[1];
	if ((rtp[0] >> 6) != 2 || (b1 >= 192 && b1 <= 223)) {
		count(STAT_NOT_RTP);
		return TC_ACT_UNSPEC;
	}
	__u8 pt = b1 & 0x7f;
	if (pt == v->dtmf_pt[0] || pt == v->dtmf_pt[1] || pt == v->dtmf_pt[2] ||
	    pt == v->dtmf_pt[3]) {
		count(STAT_DTMF);
		return TC_ACT_UNSPEC;
	}

	__be32 old_src = ip->saddr, old_dst = ip->daddr;
	__be16 old_sport = udp->source, old_dport = udp->dest;
	__u16 udp_len = bpf_ntohs(udp->len);
	__be32 new_src = v->new_src_ip, new_dst = v->new_dst_ip;
	__be16 new_sport = v->new_src_port, new_dport = v->new_dst_port;
	int local = v->flags & FWD_LOCAL;

	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.l4_protocol = IPPROTO_UDP;
	fib.tos = ip->tos;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.sport = new_sport;
	fib.dport = new_dport;
	fib.ipv4_src = new_src;
	fib.ipv4_dst = new_dst;
	fib.ifindex = skb->ingress_ifindex;
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	/* A local destination is not forwarded (RTN_LOCAL: NOT_FWDED). With forwarding off
	 * on the ingress interface the lookup stops before the FIB (FWD_DISABLED); a local
	 * destination needs no forwarding, so userspace's word that it is local suffices. */
	int deliver = local && (rc == BPF_FIB_LKUP_RET_NOT_FWDED ||
				rc == BPF_FIB_LKUP_RET_FWD_DISABLED);
	int redirect = !local && rc == BPF_FIB_LKUP_RET_SUCCESS;
	if (!deliver && !redirect) {
		count(STAT_FIB_PASS);
		return TC_ACT_UNSPEC;
	}

	/* Checksums first, from the old values: IPv4 header, then UDP (pseudo-header for the
	 * addresses). BPF_F_MARK_MANGLED_0 leaves a zero UDP checksum ("none", RFC 768) at
	 * zero and writes a computed zero as 0xffff. With CHECKSUM_PARTIAL (lo, offloads)
	 * the helper updates the pseudo-header seed and ignores the ports, as it must. */
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_src, new_src, sizeof(new_src)) ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_dst, new_dst, sizeof(new_dst)) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_src, new_src,
				BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_src)) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_dst, new_dst,
				BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_dst)) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_sport, new_sport,
				BPF_F_MARK_MANGLED_0 | sizeof(new_sport)) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_dport, new_dport,
				BPF_F_MARK_MANGLED_0 | sizeof(new_dport)))
		return TC_ACT_SHOT; /* half rewritten: must not reach anyone */
	__be32 addrs[2] = { new_src, new_dst };
	__be16 ports[2] = { new_sport, new_dport };
	if (bpf_skb_store_bytes(skb, IP_ADDR_OFF, addrs, sizeof(addrs), 0) ||
	    bpf_skb_store_bytes(skb, UDP_OFF, ports, sizeof(ports), 0))
		return TC_ACT_SHOT;

	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, udp_len > sizeof(struct udphdr) ? udp_len - sizeof(struct udphdr) : 0);
	v->last_ns = bpf_ktime_get_ns();

	if (deliver) {
		count(STAT_LOCAL);
		return TC_ACT_OK;
	}
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0))
		return TC_ACT_SHOT;
	count(STAT_REDIRECT);
	return bpf_redirect(fib.ifindex, 0);
}

/* The file is Apache-2.0 OR GPL-2.0; the kernel wants the GPL named to allow helpers such
 * as bpf_fib_lookup. */
char LICENSE[] SEC("license") = "GPL";
