package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

// deviceTagCmds are `devices tag` and `devices untag`: they add or remove
// tags and keep the device's name and other tags (`label` replaces both).
// Conditions read the tags as device.tags; the device is re-decided at
// once.
func deviceTagCmds() []*cobra.Command {
	edit := func(use, short string, change func(tags, given []string) []string) *cobra.Command {
		return adminCommand(use+" ID TAG...", short, cobra.MinimumNArgs(2), func(cmd *cobra.Command, c *adminclient.Client, args []string) error {
			devs, err := adminclient.List[api.Device](cmd.Context(), c, api.PathDevices)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(devs, func(d api.Device) bool { return d.ID == args[0] })
			if i < 0 {
				return fmt.Errorf("no device %q: see `gatehouse admin devices list` for IDs", args[0])
			}
			d := devs[i]
			tags := change(slices.Clone(d.Tags), args[1:])
			if err := c.LabelDevice(cmd.Context(), d.ID, api.DeviceLabelRequest{Name: d.Name, Tags: tags}); err != nil {
				return err
			}
			say(cmd, "device %s: tags %s", d.ID, orDash(strings.Join(tags, ",")))
			return nil
		})
	}
	return []*cobra.Command{
		edit("tag", "Add tags to a device (conditions read them as device.tags)", func(tags, given []string) []string {
			for _, t := range given {
				if !slices.Contains(tags, t) {
					tags = append(tags, t)
				}
			}
			return tags
		}),
		edit("untag", "Remove tags from a device", func(tags, given []string) []string {
			return slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(given, t) })
		}),
	}
}
