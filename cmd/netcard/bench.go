package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"netcard/card"
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
	realPath := fs.Bool("real", false, "also measure real_line_share_115200 over the real kernel path (a TUN device in a fresh network namespace; root, ip and curl; minutes of paced line)")
	realBytes := fs.Int("real-bytes", 1<<20, "size of the --real download")
	chromium := fs.Bool("chromium", true, "run headless Chromium against a Tiny-profile card (tiny_chromium_ok; null when chromium is not installed)")
	realRuns := fs.Int("real-runs", 1, "paced --real downloads each way (the keys are then medians; every run is listed)")
	realOnly := fs.Bool("real-only", false, "with --real: only the paced line measurement (no unpaced runs, no simulation)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := sim.BenchOptions{Quick: *quick}
	if *verbose {
		o.Log = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	// The real kernel path first: its paced line loses time to whatever
	// else runs, and the simulation leaves gVisor's goroutines behind.
	var rp sim.Results
	rp.RealNote = "not measured: netcard bench --real"
	if *realPath {
		rp.RealNote, rp.RealLineBytes = "", *realBytes
		for _, vj := range []bool{true, false} {
			var runs []realLine
			for i := 0; i < max(*realRuns, 1); i++ {
				if o.Log != nil {
					o.Log("real kernel path, 115200 baud, VJ %v: %d bytes (run %d)", vj, *realBytes, i+1)
				}
				m, err := measureRealLine(*realBytes, 115200, vj, nil)
				if err != nil {
					return fmt.Errorf("--real: %w", err)
				}
				if o.Log != nil {
					o.Log("  line share %.4f (%.4f of line octets); %s", m.Share, m.BytesShare, m.Counters)
					if m.AccountOK {
						o.Log("  where the line time went (ledger share %.4f; ceiling of this framing with full %d-byte records %.4f):\n%s",
							m.Account.Share, card.CardProfile.RecordOut, m.Account.Ceiling(card.CardProfile.RecordOut, card.CardProfile.MRU-40), m.Account.Table())
					}
				}
				runs = append(runs, m)
			}
			shares := make([]float64, len(runs))
			for i, m := range runs {
				shares[i] = m.Share
			}
			med := runs[medianIndex(shares)]
			if vj {
				rp.RealLineShare115200, rp.RealLineBytesShare115200 = &med.Share, &med.BytesShare
				rp.RealLineShare115200Runs = shares
				if med.AccountOK {
					rp.RealLineAccount115200 = &med.Account
					c := med.Account.Ceiling(card.CardProfile.RecordOut, card.CardProfile.MRU-40)
					rp.RealLineCeiling115200 = &c
				}
			} else {
				rp.RealLineShare115200NoVJ, rp.RealLineBytesShareNoVJ = &med.Share, &med.BytesShare
				rp.RealLineShare115200NoVJRuns = shares
			}
		}
		if *realOnly {
			r := &rp
			if *asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			fmt.Fprintf(stdout, "real kernel path, 115200: goodput ÷ baud/10: %s\nruns with VJ %v, without %v\n", realRow(r), r.RealLineShare115200Runs, r.RealLineShare115200NoVJRuns)
			if r.RealLineAccount115200 != nil {
				fmt.Fprintf(stdout, "median VJ run, ceiling of its framing %.4f:\n%s", *r.RealLineCeiling115200, r.RealLineAccount115200.Table())
			}
			return nil
		}
		if o.Log != nil {
			o.Log("real kernel path, unpaced: the card and the gVisor peer, 3 runs each")
		}
		if err := benchRealUnpaced(&rp); err != nil {
			return fmt.Errorf("--real: %w", err)
		}
	}
	// A real browser against the Tiny profile, before the simulation for
	// the same reason.
	tc := tinyChromium{Note: "not measured: netcard bench --chromium=false"}
	if *chromium {
		if o.Log != nil {
			o.Log("headless Chromium against a Tiny-profile card")
		}
		tc = measureTinyChromium()
	}
	r, err := sim.Run(o)
	if err != nil {
		return err
	}
	r.RealLineShare115200, r.RealLineShare115200NoVJ = rp.RealLineShare115200, rp.RealLineShare115200NoVJ
	r.RealLineBytesShare115200, r.RealLineBytesShareNoVJ = rp.RealLineBytesShare115200, rp.RealLineBytesShareNoVJ
	r.RealLineBytes, r.RealNote = rp.RealLineBytes, rp.RealNote
	r.RealLineShare115200Runs, r.RealLineShare115200NoVJRuns = rp.RealLineShare115200Runs, rp.RealLineShare115200NoVJRuns
	r.RealLineAccount115200, r.RealLineCeiling115200 = rp.RealLineAccount115200, rp.RealLineCeiling115200
	r.GoodputRealMiBs, r.PeerGoodputRealMiBs, r.BulkCPURatioReal = rp.GoodputRealMiBs, rp.PeerGoodputRealMiBs, rp.BulkCPURatioReal
	r.BulkNsPerByteRealCard, r.BulkNsPerByteRealPeer = rp.BulkNsPerByteRealCard, rp.BulkNsPerByteRealPeer
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
		return enc.Encode(struct {
			*sim.Results
			tinyChromium
		}{r, tc})
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
		{"card RAM, Card profile, one HTTPS connection", fmt.Sprintf("%d B (accounted %d B; 4-slot profile %d B)", r.CardRAMBytes, r.CardRAMAccounted, r.CardProfileRAMBytes), "BearSSL ≈ 25 KB; Mongoose 512 B I/O 7,807 B", "≤ 8 KiB"},
		{"card RAM, Tiny profile", fmt.Sprintf("%d B (accounted %d B)", r.TinyRAMBytes, r.TinyRAMAccounted), "uIP 0.4–3 KB (no TLS)", "≤ 4 KiB"},
		{"card peak RAM, Card profile, one slot", fmt.Sprintf("%d B in %s (within a call ≤ %d B; records of %d B)", r.CardPeakRAMBytes, r.CardPeakRAMPhase, r.CardPeakRAMInCallBytes, r.CardPeakRecordBytes), "Mongoose 512 B I/O 9,371 B", "≤ 24 KiB"},
		{"card peak RAM, Tiny profile", fmt.Sprintf("%d B in %s (within a call ≤ %d B; records of %d B)", r.TinyPeakRAMBytes, r.TinyPeakRAMPhase, r.TinyPeakRAMInCallBytes, r.TinyPeakRecordBytes), "", "≤ 12 KiB"},
		{"card RAM hard bound, Card profile, one slot / Tiny", fmt.Sprintf("%d B / %d B (+ %d B while the secure client fetches)", r.CardBoundRAMBytes, r.TinyBoundRAMBytes, r.SecureClientRAMBytes), "", "peak ≤ bound"},
		{"allocations per packet (steady state)", fmt.Sprintf("%.3f (%d frames)", r.AllocsPerPacket, r.AllocsPerPacketFrames), "lneto 0", "0"},
		{"TLS server handshake allocations", fmt.Sprintf("%.0f allocs (%.0f in Go's ECDSA signer), %.0f B", r.HandshakeAllocsCard, r.HandshakeAllocsSign, r.HandshakeBytesCard), fmt.Sprintf("crypto/tls %.0f allocs, %.0f B; ratio %.3f (Ed25519 key: %.3f)", r.HandshakeAllocsGo, r.HandshakeBytesGo, r.HandshakeAllocsRatio, r.HandshakeAllocsRatioEd25519), "ratio ≤ 0.1"},
		{"TLS server handshake CPU", fmt.Sprintf("%.0f µs", r.HandshakeNsCard/1e3), fmt.Sprintf("crypto/tls %.0f µs; ratio %.3f", r.HandshakeNsGo/1e3, r.HandshakeCPURatio), "ratio ≤ 1.0"},
		{"  same, RSA-2048 key (rsa_pss_rsae_sha256)", fmt.Sprintf("%.0f µs (%.1f× ECDSA), %.0f allocs (%.0f in Go's RSA signer), %.0f B", r.RSAHandshakeNsCard/1e3, r.RSAOverECDSAHandshakeCPU, r.RSAHandshakeAllocsCard, r.RSAHandshakeAllocsSign, r.RSAHandshakeBytesCard), fmt.Sprintf("CPU ratio %.3f, allocs ratio %.3f", r.RSAHandshakeCPURatio, r.RSAHandshakeAllocsRatio), "(extra)"},
		{"serial efficiency 115200", fmt.Sprintf("%.4f (%.0f of %.0f B/s)", r.SerialEfficiency115200, r.Goodput115200, r.MaxGoodput115200), "uIP 0.17 of line rate", "≥ 0.95"},
		{"  peer on the same line, 115200", "", peer(r.PeerSerialEfficiency115200, r.SerialEfficiencyRatioVsPeer115200, r.PeerGoodput115200), "(extra)"},
		{"real kernel path, 115200: goodput ÷ baud/10", realRow(r), "", "≥ 0.97"},
		{"real kernel path, unpaced: goodput, CPU/B", realUnpacedRow(r), "", "≥ 1.6 × 16.0 MiB/s; ≤ 1.0 ×"},
		{"serial efficiency 115200, VJ compression", fmt.Sprintf("%.4f (line share %.4f → %.4f; header %.1f B on the line)", r.SerialEfficiency115200VJ, r.LineShare115200, r.LineShare115200VJ, r.Wire115200VJ.LineHeader), "", "(extra)"},
		{"Tiny profile: headless Chromium renders /status", tinyChromiumRow(tc), "", "yes"},
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

// realRow formats the --real measurement.
func realRow(r *sim.Results) string {
	if r.RealLineShare115200 == nil || r.RealLineShare115200NoVJ == nil {
		return "null: " + r.RealNote
	}
	return fmt.Sprintf("%.4f with VJ (%.4f of line octets), %.4f without (%.4f); %d bytes",
		*r.RealLineShare115200, *r.RealLineBytesShare115200, *r.RealLineShare115200NoVJ, *r.RealLineBytesShareNoVJ, r.RealLineBytes)
}

// benchRealUnpaced fills the unpaced real-path keys: a 4 MiB download from
// the card and from the gVisor peer, alternately, 3 times each; medians.
func benchRealUnpaced(r *sim.Results) error {
	const size = 4 << 20
	var good, ns [2][]float64
	for i := 0; i < 3; i++ {
		for k, gvisor := range []bool{false, true} {
			m, err := measureReal(size, 0, true, nil, gvisor)
			if err != nil {
				return err
			}
			good[k] = append(good[k], m.Goodput/(1<<20))
			ns[k] = append(ns[k], float64(m.CPU)/size)
		}
	}
	med := func(v []float64) *float64 {
		sort.Float64s(v)
		x := v[len(v)/2]
		return &x
	}
	r.GoodputRealMiBs, r.PeerGoodputRealMiBs = med(good[0]), med(good[1])
	r.BulkNsPerByteRealCard, r.BulkNsPerByteRealPeer = med(ns[0]), med(ns[1])
	ratio := *r.BulkNsPerByteRealCard / *r.BulkNsPerByteRealPeer
	r.BulkCPURatioReal = &ratio
	return nil
}

func realUnpacedRow(r *sim.Results) string {
	if r.GoodputRealMiBs == nil {
		return "null: " + r.RealNote
	}
	return fmt.Sprintf("%.2f MiB/s (gVisor+crypto/tls %.2f); CPU %.2f ns/B vs %.2f: ratio %.3f",
		*r.GoodputRealMiBs, *r.PeerGoodputRealMiBs, *r.BulkNsPerByteRealCard, *r.BulkNsPerByteRealPeer, *r.BulkCPURatioReal)
}

func tinyChromiumRow(tc tinyChromium) string {
	if tc.OK == nil {
		return "null: " + tc.Note
	}
	if !*tc.OK {
		return "no: " + tc.Note
	}
	return fmt.Sprintf("yes (%s; ClientHello records %v B)", tc.Version, tc.HelloBytes)
}

// medianIndex returns the index of the median of v (the lower middle one
// for an even count).
func medianIndex(v []float64) int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	return idx[(len(idx)-1)/2]
}
