namespace PunkGrid.Client;

/// <summary><c>punkgrid models register|alias|list|show|promotions</c>: the model registry that predict and generate follow by alias.</summary>
public static partial class PunkGridCommandLine
{
    private static Command ModelsCommand(Io io)
    {
        var models = new Command("models", "The model registry: a run's models registered as versions (trait/NAME, vae, gan, gan/conditional, pokemon), aliases that serving follows.");

        var register = new Command("register", "Register every succeeded model of a run as a new version of its model (each trait's model is a version of trait/NAME).");
        var run = new Option<string>("--run") { Required = true, Description = "The run." };
        register.Options.Add(run);
        register.Options.Add(JsonOption);
        register.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var result = await client.GetGrain<IModelRegistryGrain>(0).Register(parse.GetValue(run)!.Trim());
            if (result.Error is not null)
            {
                throw new UsageException(result.Error);
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, result.Registered, CliJson.Default.IReadOnlyListModelVersionView);
            }
            io.Console.Write(VersionTable(result.Registered, withModel: true));
            await io.Out.WriteLineAsync($"{result.Registered.Count} version(s) registered (a job registered before is not registered again)");
            return 0;
        }));
        models.Subcommands.Add(register);

        var alias = new Command("alias", "Point an alias of a model at one of its versions: punkgrid models alias trait/Earring production 3.");
        var model = new Argument<string>("model") { Description = "The model, e.g. trait/Earring, vae, gan, gan/conditional, pokemon." };
        var aliasName = new Argument<string>("alias") { Description = "The alias, e.g. production." };
        var version = new Argument<int>("version") { Description = "The version it points at." };
        alias.Arguments.Add(model);
        alias.Arguments.Add(aliasName);
        alias.Arguments.Add(version);
        alias.Options.Add(JsonOption);
        alias.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
            await Report(io, parse, await client.GetGrain<IModelRegistryGrain>(0).SetAlias(parse.GetValue(model)!.Trim(), parse.GetValue(aliasName)!.Trim(), parse.GetValue(version)))));
        models.Subcommands.Add(alias);

        var list = new Command("list", "Every model: its latest version and score, and where each alias points.");
        list.Options.Add(JsonOption);
        list.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var all = await client.GetGrain<IModelRegistryGrain>(0).List();
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, all, CliJson.Default.IReadOnlyListModelView);
            }
            var table = new Table().AddColumns("model", "versions", "latest", "score", "aliases");
            foreach (var m in all)
            {
                var latest = m.Versions[0];
                table.AddRow(Markup.Escape(m.Name), $"{m.Versions.Count}", $"{latest.Version}", Score(latest),
                    Markup.Escape(string.Join(", ", m.Aliases.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} → {a.Value}"))));
            }
            io.Console.Write(table);
            return 0;
        }));
        models.Subcommands.Add(list);

        var show = new Command("show", "One model's versions (run, job, score, aliases) and its promote-if-better decisions.");
        var shown = new Argument<string>("model") { Description = "The model, e.g. trait/Earring." };
        show.Arguments.Add(shown);
        show.Options.Add(JsonOption);
        show.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var registry = client.GetGrain<IModelRegistryGrain>(0);
            var name = parse.GetValue(shown)!.Trim();
            var view = await registry.Show(name) ?? throw new UsageException($"unknown model '{name}' (see `punkgrid models list`)");
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, view, CliJson.Default.ModelView);
            }
            io.Console.Write(VersionTable(view.Versions, withModel: false));
            var decisions = await registry.Promotions(name, 20);
            if (decisions.Count > 0)
            {
                io.Console.Write(PromotionTable(decisions));
            }
            return 0;
        }));
        models.Subcommands.Add(show);

        var promotions = new Command("promotions", "The newest promote-if-better decisions: each candidate against the version its alias pointed at, both scores.");
        var of = new Argument<string?>("model") { Description = "Only this model (default: all).", Arity = ArgumentArity.ZeroOrOne };
        promotions.Arguments.Add(of);
        promotions.Options.Add(JsonOption);
        promotions.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var decisions = await client.GetGrain<IModelRegistryGrain>(0).Promotions(parse.GetValue(of), 200);
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, decisions, CliJson.Default.IReadOnlyListPromotionDecision);
            }
            io.Console.Write(PromotionTable(decisions));
            return 0;
        }));
        models.Subcommands.Add(promotions);
        return models;
    }

    private static string Score(ModelVersionView v) =>
        v.Metric is { } m ? string.Create(CultureInfo.InvariantCulture, $"{v.MetricName} {m:F4}") : "";

    private static Table VersionTable(IEnumerable<ModelVersionView> versions, bool withModel)
    {
        var table = withModel ? new Table().AddColumns("model", "version", "run", "job", "score", "aliases", "registered")
            : new Table().AddColumns("version", "run", "job", "score", "aliases", "registered");
        foreach (var v in versions)
        {
            string[] cells = [$"{v.Version}", Markup.Escape(v.RunId), Markup.Escape(v.JobId), Score(v), Markup.Escape(string.Join(", ", v.Aliases)),
                v.RegisteredAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)];
            table.AddRow(withModel ? [Markup.Escape(v.Model), .. cells] : cells);
        }
        return table;
    }

    private static Table PromotionTable(IEnumerable<PromotionDecision> decisions)
    {
        var table = new Table().AddColumns("run", "model", "alias", "candidate", "score", "was", "score", "decision");
        foreach (var d in decisions)
        {
            table.AddRow(Markup.Escape(d.RunId), Markup.Escape(d.Model), Markup.Escape(d.Alias), $"{d.CandidateVersion}",
                d.CandidateMetric?.ToString("F4", CultureInfo.InvariantCulture) ?? "", d.CurrentVersion?.ToString(CultureInfo.InvariantCulture) ?? "",
                d.CurrentMetric?.ToString("F4", CultureInfo.InvariantCulture) ?? "", Markup.Escape($"{(d.Promoted ? "promoted" : "kept")}: {d.Reason}"));
        }
        return table;
    }
}
