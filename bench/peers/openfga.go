package main

import (
	"errors"
	"fmt"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"github.com/openfga/openfga/pkg/server"
	"github.com/openfga/openfga/pkg/storage"
	"github.com/openfga/openfga/pkg/storage/memory"
	"github.com/openfga/openfga/pkg/storage/migrate"
	"github.com/openfga/openfga/pkg/storage/postgres"
	"github.com/openfga/openfga/pkg/storage/sqlcommon"
)

// fgaModel gives each workspace owners, admins and editors; an editor may write,
// and so may everyone above.
const fgaModel = `model
  schema 1.1
type user
type workspace
  relations
    define owner: [user]
    define admin: [user] or owner
    define editor: [user] or admin
    define can_write: editor
`

// openOpenFGA embeds an OpenFGA server as a library, on its memory datastore (pg
// nil) or on PostgreSQL, and writes every membership as a tuple.
func openOpenFGA(pg *pgServer, d dataset) (*system, error) {
	sys := &system{name: "openfga-memory"}
	var ds storage.OpenFGADatastore
	if pg == nil {
		ds = memory.New()
	} else {
		sys.name, sys.postgres = "openfga-postgres", "peers_openfga"
		url, err := pg.database(sys.postgres)
		if err != nil {
			return nil, err
		}
		if err := migrate.RunMigrations(migrate.MigrationConfig{Engine: "postgres", URI: url, Timeout: time.Minute, PingTimeout: 10 * time.Second}); err != nil {
			return nil, fmt.Errorf("openfga migrations: %w", err)
		}
		pds, err := postgres.New(url, sqlcommon.NewConfig(sqlcommon.WithMaxOpenConns(poolSize)))
		if err != nil {
			return nil, err
		}
		ds = pds
	}
	srv, err := server.NewServerWithOpts(server.WithDatastore(ds))
	if err != nil {
		return nil, err
	}
	st, err := srv.CreateStore(ctx, &openfgav1.CreateStoreRequest{Name: "bench"})
	if err != nil {
		return nil, err
	}
	mdl, err := transformer.TransformDSLToProto(fgaModel)
	if err != nil {
		return nil, err
	}
	am, err := srv.WriteAuthorizationModel(ctx, &openfgav1.WriteAuthorizationModelRequest{StoreId: st.Id,
		TypeDefinitions: mdl.TypeDefinitions, SchemaVersion: mdl.SchemaVersion, Conditions: mdl.Conditions})
	if err != nil {
		return nil, err
	}
	write := func(keys []*openfgav1.TupleKey) error {
		_, err := srv.Write(ctx, &openfgav1.WriteRequest{StoreId: st.Id, AuthorizationModelId: am.AuthorizationModelId,
			Writes: &openfgav1.WriteRequestWrites{TupleKeys: keys}})
		return err
	}
	relation := func(j int) string {
		if j == 0 {
			return "owner"
		}
		return "editor"
	}
	const perWrite = 100 // OpenFGA's default limit of tuples in one write
	batch := make([]*openfgav1.TupleKey, 0, perWrite)
	for i := 0; i < d.n; i++ {
		for j := 0; j < d.k; j++ {
			batch = append(batch, &openfgav1.TupleKey{User: "user:" + d.userID(d.memberOf(i, j)), Relation: relation(j), Object: "workspace:" + d.wsID(i)})
			if len(batch) == perWrite {
				if err := write(batch); err != nil {
					return nil, err
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		if err := write(batch); err != nil {
			return nil, err
		}
	}
	sys.check = func(q query) error {
		r, err := srv.Check(ctx, &openfgav1.CheckRequest{StoreId: st.Id, AuthorizationModelId: am.AuthorizationModelId,
			TupleKey: &openfgav1.CheckRequestTupleKey{User: "user:" + q.user, Relation: "can_write", Object: "workspace:" + q.ws}})
		if err == nil && !r.Allowed {
			err = errors.New("openfga denied a member")
		}
		return err
	}
	sys.create = func(i int) error {
		return write([]*openfgav1.TupleKey{{User: "user:" + d.userID(i%d.users), Relation: "owner", Object: "workspace:" + d.wsID(i)}})
	}
	sys.close = func() {
		srv.Close()
		ds.Close()
	}
	return sys, nil
}
