package tls

import "strconv"

// Alert descriptions (RFC 8446 §6).
const (
	AlertCloseNotify           uint8 = 0
	AlertUnexpectedMessage     uint8 = 10
	AlertBadRecordMAC          uint8 = 20
	AlertRecordOverflow        uint8 = 22
	AlertHandshakeFailure      uint8 = 40
	AlertBadCertificate        uint8 = 42
	AlertUnsupportedCert       uint8 = 43
	AlertCertificateRevoked    uint8 = 44
	AlertCertificateExpired    uint8 = 45
	AlertCertificateUnknown    uint8 = 46
	AlertIllegalParameter      uint8 = 47
	AlertUnknownCA             uint8 = 48
	AlertDecodeError           uint8 = 50
	AlertDecryptError          uint8 = 51
	AlertProtocolVersion       uint8 = 70
	AlertInternalError         uint8 = 80
	AlertUserCanceled          uint8 = 90
	AlertMissingExtension      uint8 = 109
	AlertUnsupportedExtension  uint8 = 110
	AlertUnrecognizedName      uint8 = 112
	AlertCertificateRequired   uint8 = 116
	AlertNoApplicationProtocol uint8 = 120
)

var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
	40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
	45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	50: "decode_error", 51: "decrypt_error", 70: "protocol_version", 80: "internal_error",
	90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	116: "certificate_required", 120: "no_application_protocol",
}

// AlertName returns the RFC name of an alert description.
func AlertName(a uint8) string {
	if s, ok := alertNames[a]; ok {
		return s
	}
	return "alert(" + strconv.Itoa(int(a)) + ")"
}

// AlertError is the error of a failed engine: the alert it sent (Remote false) or received.
type AlertError struct {
	Code   uint8
	Remote bool
}

// Error describes the alert and its direction.
func (e *AlertError) Error() string {
	if e.Remote {
		return "tls: received alert " + AlertName(e.Code)
	}
	return "tls: sent alert " + AlertName(e.Code)
}

// Preallocated errors so that failing does not allocate in the record path.
var localAlerts, remoteAlerts [256]AlertError

func init() {
	for i := range localAlerts {
		localAlerts[i] = AlertError{Code: uint8(i)}
		remoteAlerts[i] = AlertError{Code: uint8(i), Remote: true}
	}
}
