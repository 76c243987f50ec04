package doc

import (
	"errors"
	"fmt"
)

// Error is a failure the user can act on. Its Type is Frappe's exception class name, which the API
// turns into the HTTP status and the `exc_type` of the response.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Frappe's exception classes used by livedoc.
const (
	ValidationError        = "ValidationError"
	MandatoryError         = "MandatoryError"
	LinkValidationError    = "LinkValidationError"
	TimestampMismatchError = "TimestampMismatchError"
	DocstatusTransition    = "DocstatusTransitionError"
	UpdateAfterSubmitError = "UpdateAfterSubmitError"
	PermissionError        = "PermissionError"
	DoesNotExistError      = "DoesNotExistError"
	DuplicateEntryError    = "DuplicateEntryError"
	LinkExistsError        = "LinkExistsError"
	DataError              = "DataError"
	// CannotChangeConstantError: a set_only_once field that has a value was changed.
	CannotChangeConstantError = "CannotChangeConstantError"
)

// Errorf makes an Error of the given Frappe type.
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
