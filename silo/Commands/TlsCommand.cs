namespace PunkGrid.Silo;

/// <summary><c>silo tls create|issue</c>: the certificates the cluster's mutual TLS needs (see <see cref="ClusterTls"/>).</summary>
public static partial class SiloCommandLine
{
    private static Command TlsCommand(TextWriter stdout, TextWriter stderr)
    {
        var tls = new Command("tls", "Make the certificates for the cluster's mutual TLS (silo to silo, client to gateway).");
        var validity = new Option<int>("--days") { DefaultValueFactory = _ => 825, Description = "Days the certificates stay valid." };
        var hosts = new Option<string[]>("--host") { Description = "A host name or IP address the silo certificate is for (repeatable; localhost and 127.0.0.1 always)." };

        var create = new Command("create", $"A new cluster authority plus a silo and a client certificate, in one folder ({ClusterTls.CaFile}, {ClusterTls.CaKeyFile}, {ClusterTls.SiloFile}, {ClusterTls.ClientFile}; keys 0600).");
        var output = new Option<string>("--out") { Required = true, Description = "The folder (created if missing; must not hold an authority yet)." };
        foreach (var option in new Option[] { output, hosts, validity })
        {
            create.Options.Add(option);
        }
        create.SetAction(async (parse, _) =>
        {
            try
            {
                var folder = parse.GetValue(output)!;
                ClusterTls.CreateSet(folder, parse.GetValue(hosts) ?? [], TimeSpan.FromDays(Math.Clamp(parse.GetValue(validity), 1, 3650)));
                await stdout.WriteLineAsync($"wrote {folder}: {ClusterTls.CaFile} (give to every silo and client), {ClusterTls.SiloFile} (silos), " +
                    $"{ClusterTls.ClientFile} (operators), {ClusterTls.CaKeyFile} (keep it where certificates are made)");
                return 0;
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
        });

        var issue = new Command("issue", "One more certificate from an existing authority: a silo's (for more hosts) or an operator's.");
        var authority = new Option<string>("--ca-dir") { Required = true, Description = $"The folder holding {ClusterTls.CaFile} and {ClusterTls.CaKeyFile}." };
        var role = new Option<string>("--role") { Required = true, Description = "silo or client." };
        var file = new Option<string>("--out") { Required = true, Description = "The .pfx file to write (0600)." };
        foreach (var option in new Option[] { authority, role, file, hosts, validity })
        {
            issue.Options.Add(option);
        }
        issue.SetAction(async (parse, _) =>
        {
            try
            {
                ClusterTls.IssueFrom(parse.GetValue(authority)!, parse.GetValue(role)!, parse.GetValue(hosts) ?? [], parse.GetValue(file)!,
                    TimeSpan.FromDays(Math.Clamp(parse.GetValue(validity), 1, 3650)));
                await stdout.WriteLineAsync($"wrote {parse.GetValue(file)}");
                return 0;
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
        });
        tls.Subcommands.Add(create);
        tls.Subcommands.Add(issue);
        return tls;
    }
}
