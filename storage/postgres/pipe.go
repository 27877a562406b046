package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipe runs one transaction on one connection and saves round trips: statements
// whose answer nobody waits for (the BEGIN, a counter's increment, a feed append)
// are held back and sent in one batch with the next statement that needs an
// answer, or with the COMMIT. A creation that took eight round trips in its
// transaction takes four: BEGIN rides with the first read, the counter and the
// event ride with the COMMIT.
//
// A held statement that fails aborts the transaction as it would have when sent
// alone; its error is what the statement it rode with answers, and the tx records
// it as its failure, so the Update's outcome is the same.
type pipe struct {
	s    *Store
	conn *pgxpool.Conn
	held []held
	sent bool // the BEGIN went to the server: there is a transaction to end
}

type held struct {
	sql  string
	args []any
}

// begin takes a connection and holds the transaction's BEGIN.
func (s *Store) begin(ctx context.Context, beginSQL string) (*pipe, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pipe{s: s, conn: c, held: []held{{sql: beginSQL}}}, nil
}

// hold queues a statement to go with the next one sent. Its arguments are encoded
// only then: the caller passes values, or copies, that nothing changes meanwhile.
func (p *pipe) hold(sql string, args ...any) { p.held = append(p.held, held{sql, args}) }

// withHeld sends the held statements and then one more in one batch; it returns the
// batch positioned at the last statement's result, or the first held statement's
// error (the batch already closed).
func (p *pipe) withHeld(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	for _, h := range p.held {
		b.Queue(h.sql, h.args...)
	}
	b.Queue(sql, args...)
	n := len(p.held)
	p.held = p.held[:0]
	p.sent = true
	p.s.stats.roundTrips.Add(1)
	br := p.conn.SendBatch(ctx, b)
	for range n {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	return br, nil
}

// hasExecMode reports an argument that picks pgx's query mode, which a batch does
// not take.
func hasExecMode(args []any) bool {
	for _, a := range args {
		if _, ok := a.(pgx.QueryExecMode); ok {
			return true
		}
	}
	return false
}

// flush sends what is held, alone: before a statement that cannot join a batch.
func (p *pipe) flush(ctx context.Context) error {
	if len(p.held) == 0 {
		return nil
	}
	last := p.held[len(p.held)-1]
	p.held = p.held[:len(p.held)-1]
	br, err := p.withHeld(ctx, last.sql, last.args)
	if err != nil {
		return err
	}
	_, err = br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(p.held) == 0 || hasExecMode(args) {
		if err := p.flush(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		p.s.stats.roundTrips.Add(1)
		return p.conn.Exec(ctx, sql, args...)
	}
	br, err := p.withHeld(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(p.held) == 0 || hasExecMode(args) {
		if err := p.flush(ctx); err != nil {
			return nil, err
		}
		p.s.stats.roundTrips.Add(1)
		return p.conn.Query(ctx, sql, args...)
	}
	br, err := p.withHeld(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return batchRows{rows, br}, nil
}

func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	return row{rows, err}
}

// batchRows are a batch's last result: closing them closes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// row is pgx's QueryRow over Query: the first row, pgx.ErrNoRows without one.
type row struct {
	rows pgx.Rows
	err  error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// commit sends what is held with the COMMIT. A COMMIT of an aborted transaction
// answers ROLLBACK, which is an error here.
func (p *pipe) commit(ctx context.Context) error {
	if !p.sent && len(p.held) == 1 {
		p.held = nil // nothing but the BEGIN: there is nothing to commit
		return nil
	}
	tag, err := p.Exec(ctx, "COMMIT")
	if err != nil {
		return err // release rolls back whatever is still open
	}
	p.sent = false // the server ended the transaction, one way or the other
	if tag.String() != "COMMIT" {
		return errRolledBack
	}
	return nil
}

var errRolledBack = errors.New("commit unsuccessful: the transaction was rolled back")

// release ends the transaction if it is still open (a rollback, when nothing was
// committed) and gives the connection back; a connection in a state it cannot vouch
// for is closed instead.
func (p *pipe) release(ctx context.Context) {
	if p.conn == nil {
		return
	}
	if p.sent {
		p.held = nil
		p.s.stats.roundTrips.Add(1)
		if _, err := p.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			_ = p.conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	p.conn.Release()
	p.conn = nil
}
