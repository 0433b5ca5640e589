using System.Text.Json;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Search;

/// <summary>A search as its <c>searches</c> row holds it: the plan it was created with, its run and state.</summary>
public sealed record StoredSearch(SearchPlan Plan, string RunId, string State, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt)
{
    /// <summary>The columns <see cref="Read"/> needs, from <c>searches s</c>.</summary>
    public const string Columns = """
        s.search_id, s.run_id, s.spec::text as spec, s.parameters::text as parameters, s.space::text as space, s.metric,
        s.higher_is_better, s.min_epochs, s.max_epochs, s.reduction_factor, s.max_trials, s.state, s.created_at, s.finished_at
        """;

    internal static StoredSearch Read(NpgsqlDataReader row)
    {
        var spec = JsonSerializer.Deserialize<SearchSpec>(row.Text("spec"))!;
        var settings = new AshaSettings(row.Int("min_epochs"), row.Int("max_epochs"), row.Int("reduction_factor"), row.Int("max_trials"), row.Bool("higher_is_better"));
        var plan = new SearchPlan(row.Text("search_id"), spec, [],
            JsonSerializer.Deserialize<Dictionary<string, string>>(row.Text("parameters"))!,
            SearchSpace.Parse(JsonSerializer.Deserialize<string[]>(row.Text("space"))!), row.Text("metric"), settings, []);
        return new StoredSearch(plan, row.Text("run_id"), row.Text("state"), row.Time("created_at"), row.TimeOrNull("finished_at"));
    }
}
