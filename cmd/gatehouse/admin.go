package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

func adminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer a controller over its REST API",
	}
	pf := cmd.PersistentFlags()
	pf.String("controller", os.Getenv("GATEHOUSE_CONTROLLER"), "controller URL (env GATEHOUSE_CONTROLLER)")
	pf.String("token", "", "admin token: an API token (ghk_…), or the bootstrap token for `admin bootstrap` (prefer --admin-token-file or env GATEHOUSE_ADMIN_TOKEN: flags show up in ps)")
	pf.String("admin-token-file", os.Getenv("GATEHOUSE_ADMIN_TOKEN_FILE"), "file holding the admin token, e.g. DATA_DIR/admin-token (env GATEHOUSE_ADMIN_TOKEN_FILE)")
	pf.String("ca", os.Getenv("GATEHOUSE_CA"), "controller CA certificate to trust (env GATEHOUSE_CA)")
	cmd.AddCommand(withUserActions(usersCmd()), groupsCmd(), appsAdminCmd(), profilesCmd(), policiesCmd(), policyCmd(), tokensCmd(),
		withDeviceActions(devicesCmd()), grantsCmd(), adminTokenCmd(), gatewaysCmd(),
		bootstrapCmd(), sessionsCmd(), apiTokensCmd(), adminsCmd(), settingsCmd(), adminLoginCmd(), adminLogoutCmd(),
		exceptionsCmd(), explainCmd(), requestsAdminCmd())
	return cmd
}

// adminToken finds the admin token: --token, else the token file, else
// GATEHOUSE_ADMIN_TOKEN. file is the token file it came from, if any.
func adminToken(cmd *cobra.Command) (token, file string, err error) {
	token, _ = cmd.Flags().GetString("token")
	file, _ = cmd.Flags().GetString("admin-token-file")
	if token != "" && cmd.Flags().Changed("admin-token-file") {
		return "", "", fmt.Errorf("give the admin token either with --token or with --admin-token-file, not both")
	}
	switch {
	case token != "":
		return token, "", nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("read the admin token file: %w (the controller writes it to DATA_DIR/admin-token on its first start)", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return "", "", fmt.Errorf("admin token file %s is empty", file)
		}
		return token, file, nil
	}
	return os.Getenv("GATEHOUSE_ADMIN_TOKEN"), "", nil
}

// admin builds a REST client from the admin flags.
func admin(cmd *cobra.Command) (*adminclient.Client, error) {
	url, _ := cmd.Flags().GetString("controller")
	caFile, _ := cmd.Flags().GetString("ca")
	token, _, err := adminToken(cmd)
	if err != nil {
		return nil, err
	}
	if url != "" && token == "" { // no token: the signed-in session (gatehouse admin login), if any
		if _, ca, err := adminFlags(cmd); err != nil {
			return nil, err
		} else if c, err := adminSessionClient(url, ca); !errors.Is(err, keystore.ErrNotFound) {
			return c, err
		}
	}
	if url == "" || token == "" {
		return nil, fmt.Errorf("set --controller and sign in (gatehouse admin login) or give an admin token (GATEHOUSE_ADMIN_TOKEN_FILE or GATEHOUSE_ADMIN_TOKEN)")
	}
	var ca []byte
	if caFile != "" {
		var err error
		if ca, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("read --ca: %w", err)
		}
	}
	return adminclient.New(url, token, ca)
}

// kind describes one kind of named admin object for the generic
// list/get/delete subcommands.
type kind[T any] struct {
	use, path, header string
	row               func(T) []string
}

// commands returns list, get and delete for k.
func (k kind[T]) commands() []*cobra.Command {
	list := &cobra.Command{
		Use: "list", Short: "List " + k.use, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			vs, err := adminclient.List[T](cmd.Context(), c, k.path)
			if err != nil {
				return err
			}
			if printJSON(cmd, vs) {
				return nil
			}
			rows := make([][]string, len(vs))
			for i, v := range vs {
				rows[i] = k.row(v)
			}
			table(cmd, k.header, rows)
			return nil
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show one of the " + k.use, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			v, err := adminclient.Get[T](cmd.Context(), c, k.path, args[0])
			if err != nil {
				return err
			}
			cmd.Flags().Set("json", "true")
			printJSON(cmd, v)
			return nil
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete one of the " + k.use, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.Delete(cmd.Context(), k.path, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		},
	}
	return []*cobra.Command{list, get, del}
}

// createCmd posts the object fill builds from args and flags.
func createCmd[T any](use, short, path string, args cobra.PositionalArgs, fill func(cmd *cobra.Command, args []string) T) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			v := fill(cmd, a)
			if err := adminclient.Create(cmd.Context(), c, path, &v); err != nil {
				return err
			}
			cmd.Flags().Set("json", "true")
			printJSON(cmd, v)
			return nil
		},
	}
}

func group(use, short string, cmds ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short}
	g.AddCommand(cmds...)
	return g
}
