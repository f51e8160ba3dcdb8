package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"netcard/sim"
)

// runBench measures the rows of BENCHMARKS.md (issue 7) in one run: the card
// in the deterministic simulation (package sim) beside crypto/tls.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	quick := fs.Bool("quick", false, "smaller downloads and fewer cards (seconds instead of tens of seconds)")
	plot := fs.String("plot", "", "write a PNG of goodput vs line rate, the card and the gVisor peer, to this file")
	verbose := fs.Bool("v", false, "log progress to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := sim.BenchOptions{Quick: *quick}
	if *verbose {
		o.Log = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	r, err := sim.Run(o)
	if err != nil {
		return err
	}
	if *plot != "" {
		f, err := os.Create(*plot)
		if err != nil {
			return err
		}
		if err := sim.PlotGoodput(f, *quick); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tmeasured\tpeer (same run)\tgoal")
	gvisor := "null: " + r.BulkNote
	if r.BulkCPURatioVsGvisor != nil {
		gvisor = fmt.Sprintf("ratio %.3f", *r.BulkCPURatioVsGvisor)
	}
	peer := func(eff, ratio *float64, goodput float64) string {
		if eff == nil {
			return "null: " + r.PeerNote
		}
		s := fmt.Sprintf("gVisor+crypto/tls %.4f (%.0f B/s)", *eff, goodput)
		if ratio != nil {
			s += fmt.Sprintf("; ratio %.3f", *ratio)
		}
		return s
	}
	rows := [][4]string{
		{"card RAM, Card profile, one HTTPS connection", fmt.Sprintf("%d B (accounted %d B; 4-slot profile %d B)", r.CardRAMBytes, r.CardRAMAccounted, r.CardProfileRAMBytes), "BearSSL ≈ 25 KB", "≤ 24 KiB"},
		{"card RAM, Tiny profile", fmt.Sprintf("%d B (accounted %d B)", r.TinyRAMBytes, r.TinyRAMAccounted), "uIP 0.4–3 KB (no TLS)", "≤ 4 KiB"},
		{"allocations per packet (steady state)", fmt.Sprintf("%.3f (%d frames)", r.AllocsPerPacket, r.AllocsPerPacketFrames), "lneto 0", "0"},
		{"TLS server handshake allocations", fmt.Sprintf("%.0f allocs (%.0f in Go's ECDSA signer), %.0f B", r.HandshakeAllocsCard, r.HandshakeAllocsSign, r.HandshakeBytesCard), fmt.Sprintf("crypto/tls %.0f allocs, %.0f B; ratio %.3f (Ed25519 key: %.3f)", r.HandshakeAllocsGo, r.HandshakeBytesGo, r.HandshakeAllocsRatio, r.HandshakeAllocsRatioEd25519), "ratio ≤ 0.1"},
		{"TLS server handshake CPU", fmt.Sprintf("%.0f µs", r.HandshakeNsCard/1e3), fmt.Sprintf("crypto/tls %.0f µs; ratio %.3f", r.HandshakeNsGo/1e3, r.HandshakeCPURatio), "ratio ≤ 1.0"},
		{"  same, RSA-2048 key (rsa_pss_rsae_sha256)", fmt.Sprintf("%.0f µs (%.1f× ECDSA), %.0f allocs (%.0f in Go's RSA signer), %.0f B", r.RSAHandshakeNsCard/1e3, r.RSAOverECDSAHandshakeCPU, r.RSAHandshakeAllocsCard, r.RSAHandshakeAllocsSign, r.RSAHandshakeBytesCard), fmt.Sprintf("CPU ratio %.3f, allocs ratio %.3f", r.RSAHandshakeCPURatio, r.RSAHandshakeAllocsRatio), "(extra)"},
		{"serial efficiency 115200", fmt.Sprintf("%.4f (%.0f of %.0f B/s)", r.SerialEfficiency115200, r.Goodput115200, r.MaxGoodput115200), "uIP 0.17 of line rate", "≥ 0.95"},
		{"  peer on the same line, 115200", "", peer(r.PeerSerialEfficiency115200, r.SerialEfficiencyRatioVsPeer115200, r.PeerGoodput115200), "(extra)"},
		{"serial efficiency 115200, Tiny profile", fmt.Sprintf("%.4f (MSS %d, records %d)", r.SerialEfficiency115200Tiny, r.WireTiny.MSS, r.WireTiny.Record), "", "(extra)"},
		{"serial efficiency 12 Mbit/s", fmt.Sprintf("%.4f (%.0f of %.0f B/s)", r.SerialEfficiency12M, r.Goodput12M, r.MaxGoodput12M), "", "≥ 0.95"},
		{"  peer on the same line, 12 Mbit/s", "", peer(r.PeerSerialEfficiency12M, r.SerialEfficiencyRatioVsPeer12M, r.PeerGoodput12M), "(extra)"},
		{"TTFB 115200 ÷ wire bound", fmt.Sprintf("%.3f (%.1f ms / %.1f ms); with 20 ms latency %.3f", r.TTFBRatio115200, r.TTFB115200Ms, r.TTFBBound115200Ms, r.TTFBRatio115200Latency20ms), "", "≤ 1.25"},
		{"  same + card CPU time (this machine)", fmt.Sprintf("%.3f (card %.2f ms)", r.TTFBRatio115200CPU, r.TTFBCardCPU115200Ms), "", "≤ 1.25"},
		{"bulk CPU vs gVisor + crypto/tls", gvisor, fmt.Sprintf("card+peer %.1f ns/B, gVisor+crypto/tls %.1f ns/B", r.BulkNsPerByteCard, r.BulkNsPerByteGvisor), "ratio ≤ 1.0"},
		{"cards per GiB (Card profile)", fmt.Sprintf("%.0f (%d cards measured; one-slot %.0f)", r.CardsPerGiB, r.CardsMeasured, r.CardsPerGiBOneSlot), "", "≥ 10,000"},
	}
	var au []string
	for _, a := range r.Apps {
		au = append(au, fmt.Sprintf("%s %d/%d", a.Name, a.RAMBytes, a.StoreBytes))
	}
	rows = append(rows, [4]string{"applications: RAM/store bytes", strings.Join(au, ", "), "", "(extra)"})
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row[0], row[1], row[2], row[3])
	}
	return tw.Flush()
}
