package preflight

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// TableOptions shape the table.
type TableOptions struct {
	// Color marks the status with ANSI colours (only when writing to a terminal).
	Color bool
	// Wide adds the duration and docs link of every check.
	Wide bool
}

var statusColor = map[Status]string{Pass: "\033[32m", Warn: "\033[33m", Fail: "\033[31m", Error: "\033[31m", Skip: "\033[90m", Timeout: "\033[33m"}

// WriteTable writes one row per check, each non-passing check followed by its remediation,
// then the summary line.
func WriteTable(w io.Writer, r Report, o TableOptions) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "CHECK\tSTATUS\tDETAIL"
	if o.Wide {
		header += "\tTIME"
	}
	fmt.Fprintln(tw, header)
	for _, c := range r.Checks {
		status := strings.ToUpper(string(c.Status))
		if o.Color {
			// Pad before colouring: tabwriter counts the escape bytes as width.
			status = statusColor[c.Status] + fmt.Sprintf("%-5s", status) + "\033[0m"
		}
		row := fmt.Sprintf("%s\t%s\t%s", c.ID, status, c.Detail)
		if o.Wide {
			row += fmt.Sprintf("\t%dms", c.DurationMillis)
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var hints []string
	for _, c := range r.Checks {
		if c.Status == Pass || c.Remediation == "" {
			continue
		}
		h := fmt.Sprintf("  %s: %s", c.ID, c.Remediation)
		if o.Wide && c.DocsURL != "" {
			h += " (" + c.DocsURL + ")"
		}
		hints = append(hints, h)
	}
	if len(hints) > 0 {
		fmt.Fprintf(w, "\nTo fix:\n%s\n", strings.Join(hints, "\n"))
	}
	s := r.Summary
	timedOut := ""
	if s.TimedOut > 0 {
		timedOut = fmt.Sprintf(", %d timed out", s.TimedOut)
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed, %d skipped, %d errors%s (profile %s)\n", s.Passed, s.Warnings, s.Failed, s.Skipped, s.Errors, timedOut, r.Profile)
	return err
}

// WriteJSON writes the report (schema: docs/preflight.md).
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fail    int          `xml:"failures,attr"`
	Errors  int          `xml:"errors,attr"`
	Skipped int          `xml:"skipped,attr"`
	Time    string       `xml:"time,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name    string      `xml:"name,attr"`
	Tests   int         `xml:"tests,attr"`
	Fail    int         `xml:"failures,attr"`
	Errors  int         `xml:"errors,attr"`
	Skipped int         `xml:"skipped,attr"`
	Time    string      `xml:"time,attr"`
	Cases   []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes one testcase per check: fail → failure, error → error, skip → skipped;
// a warning passes and carries its detail in system-out (JUnit has no warning level).
func WriteJUnit(w io.Writer, r Report) error {
	suite := junitSuite{Name: "dynamoctl preflight (" + r.Profile + ")"}
	var total int64
	for _, c := range r.Checks {
		total += c.DurationMillis
		tc := junitCase{Name: c.ID, ClassName: "preflight." + r.Profile, Time: seconds(c.DurationMillis)}
		body := c.Detail
		if c.Remediation != "" {
			body += "\nTo fix: " + c.Remediation
		}
		if c.DocsURL != "" {
			body += "\nDocs: " + c.DocsURL
		}
		switch c.Status {
		case Fail:
			tc.Failure = &junitMessage{Message: c.Detail, Type: "fail", Text: body}
			suite.Fail++
		case Error:
			tc.Error = &junitMessage{Message: c.Detail, Type: "error", Text: body}
			suite.Errors++
		case Skip, Timeout:
			tc.Skipped = &junitMessage{Message: c.Detail}
			suite.Skipped++
		case Warn:
			tc.SystemOut = "WARN: " + body
		default:
			tc.SystemOut = c.Detail
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests, suite.Time = len(r.Checks), seconds(total)
	doc := junitSuites{Name: "dynamoctl preflight", Tests: suite.Tests, Fail: suite.Fail, Errors: suite.Errors, Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }
