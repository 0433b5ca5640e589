using System.Net.Http.Headers;
using System.Text;
using PunkGrid.Client;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The bad-input corpus: every input an attacker or a careless user sent (issue 13), through the HTTP API and the CLI. Each
/// gets the status (or exit code) that fits, a JSON error naming what is wrong, and stores nothing.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class BadInputCorpusTests(ClusterFixture cluster)
{
    private Task<long> RunsAsync() => cluster.CountAsync("select count(*) from runs where run_id <> @id", "");

    private async Task<(int Status, string Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, HttpContent? content = null,
        string? token = ClusterFixture.ApiToken, Action<HttpRequestMessage>? tweak = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(cluster.Silos.First(s => !s.HasExited).DashboardUrl, path.TrimStart('/')));
        request.Content = content;
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        tweak?.Invoke(request);
        var response = await cluster.Http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static TheoryData<string, int, string> Bodies => new()
    {
        { """{"run_id": "", "kind": "trait", "all": true}""", 400, "run_id '' is not valid" },
        { """{"run_id": " ", "kind": "trait", "all": true}""", 400, "run_id ' ' is not valid" },
        { """{"kind": "trait", "targets": [null]}""", 400, "targets[0] must be a trait name, not null" },
        { """{"kind": "vae", "parameters": {"epochs": null}}""", 400, "parameters.epochs must be a string, a number or a boolean, not null" },
        { """{"kind": "vae", "parameters": {"epochs": [1]}}""", 400, "parameters.epochs must be a string, a number or a boolean, not an array" },
        { """{"kind": "trait", "targets": ["Ma\u0000le"]}""", 400, "targets[0] 'Ma\\u0000le' is not allowed: no control characters" },
        { """{"kind": "trait", "all": true, "targets": ["Male"]}""", 400, "give either all or targets, not both" },
        { """{"kind": "vae", "targets": ["<script>alert(1)</script>"]}""", 400, "targets do not apply to a vae run" },
        { """{"kind": "gan", "targets": ["../../etc/passwd"]}""", 400, "targets do not apply to a gan run" },
        { """{"kind": "trait", "targets": ["Male", "male"]}""", 400, "name the trait 'Male' 2 times" },
        { """{"kind": "trait", "all": true, "profile": "quick", "extra": 1}""", 400, "unknown field 'extra'" },
        { """{"kind": "bitcoin"}""", 400, "kind 'bitcoin' is not allowed" },
        { """{"kind": "trait", "all": "yes"}""", 400, "all must be true or false" },
        { """{"kind": "trait", "all": true, "priority": 1e30}""", 400, "priority must be a whole number" },
        { "[1, 2]", 400, "must be a JSON object" },
        { "{not json", 400, "is not valid JSON" },
        { """{"kind": "trait", "targets": ["Male"], "parameters": {"train_samples": 10000000, "color": "rgb"}}""", 400, "would need about" },
        { """{"kind": "vae", "parameters": {"batch_size": 100000}}""", 400, "would need about" },
        { """{"kind": "pokemon", "parameters": {"image_size": 512, "batch_size": 100000}}""", 400, "would need about" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task A_bad_submit_body_is_a_json_4xx_naming_the_field_and_stores_nothing(string body, int status, string message)
    {
        var before = await RunsAsync();
        var (actual, text, _) = await SendAsync(HttpMethod.Post, "/api/runs", Json(body));
        Assert.True(actual == status, $"{actual}: {text}");
        Assert.Contains(message, System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString());
        Assert.Equal(before, await RunsAsync());
    }

    [Fact]
    public async Task Ten_thousand_copies_of_a_trait_are_refused_not_stored()
    {
        var body = $$"""{"kind": "trait", "targets": [{{string.Join(',', Enumerable.Repeat("\"Male\"", 10_000))}}]}""";
        var (status, text, _) = await SendAsync(HttpMethod.Post, "/api/runs", Json(body));
        Assert.Equal(400, status);
        Assert.Contains("'Male' 10000 times", text);
    }

    [Fact]
    public async Task Parameters_may_be_json_numbers_and_booleans_as_well_as_strings()
    {
        var (status, text, _) = await SendAsync(HttpMethod.Post, "/api/runs",
            Json("""{"run_id": "corpus-numbers", "kind": "noop", "parameters": {"duration_ms": 100, "epochs": 1, "checkpoint_bytes": "0"}}"""));
        Assert.True(status == 201, text);
        Assert.Equal("100", await cluster.ScalarAsync("select parameters->>'duration_ms' from jobs where run_id = @id", "corpus-numbers"));
    }

    [Theory]
    [InlineData("GET", "/api/runs/%20")]
    [InlineData("GET", "/api/runs/%20/results")]
    [InlineData("GET", "/api/jobs/%20")]
    [InlineData("GET", "/api/jobs/%20/metrics")]
    [InlineData("GET", "/api/jobs/%20/artifacts")]
    [InlineData("POST", "/api/runs/%20/cancel")]
    [InlineData("POST", "/api/jobs/%20/cancel")]
    [InlineData("POST", "/api/jobs/%20/retry")]
    [InlineData("DELETE", "/api/schedules/%20")]
    [InlineData("GET", "/api/runs/run%3Bdrop")]
    public async Task A_malformed_id_in_a_route_is_a_json_400_naming_it(string method, string path)
    {
        var (status, text, _) = await SendAsync(new HttpMethod(method), path);
        Assert.True(status == 400, $"{status}: {text}");
        Assert.Contains("is not valid: 1-200 letters, digits", text);
    }

    [Theory]
    [InlineData("/api/runs?limit=abc", "limit='abc' is not allowed")]
    [InlineData("/api/runs?limit=0", "limit='0' is not allowed")]
    [InlineData("/api/runs?after=%00", "after '\\u0000' is not valid")]
    [InlineData("/api/jobs/some.job/metrics?name=%00", "name '\\u0000' is not allowed")]
    [InlineData("/api/jobs/some.job/metrics?after_step=x", "after_step='x' is not allowed")]
    [InlineData("/api/jobs/some.job/metrics?points=100000000", "points='100000000' is not allowed")]
    public async Task A_malformed_query_value_is_a_json_400_naming_it(string path, string message)
    {
        var (status, text, _) = await SendAsync(HttpMethod.Get, path);
        Assert.True(status == 400, $"{status}: {text}");
        Assert.Contains(message, System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Every_error_is_a_problem_document_naming_what_is_wrong()
    {
        // RFC 9457: application/problem+json with status, title and the message as detail ('error' repeats it for a release).
        foreach (var (method, path, token, host, status, message) in new (HttpMethod, string, string?, string?, int, string)[]
        {
            (HttpMethod.Get, "/api/runs?limit=abc", ClusterFixture.ApiToken, null, 400, "limit='abc' is not allowed"),
            (HttpMethod.Get, "/api/runs/no-such-run", null, null, 404, "unknown run 'no-such-run'"),
            (HttpMethod.Post, "/api/runs/no-such-run/cancel", null, null, 401, "Authorization: Bearer TOKEN"),
            (HttpMethod.Post, "/api/runs/no-such-run/cancel", ClusterFixture.ApiToken, null, 404, "no-such-run"),
            (HttpMethod.Get, "/api/no-such-endpoint", null, null, 404, "no API endpoint GET /api/no-such-endpoint"),
            (HttpMethod.Get, "/api/runs", null, "attacker.example", 400, "host 'attacker.example' is not served here"),
        })
        {
            var (actual, text, response) = await SendAsync(method, path, token: token, tweak: host is null ? null : r => r.Headers.Host = host);
            Assert.True(actual == status, $"{method} {path}: {actual}: {text}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = System.Text.Json.JsonDocument.Parse(text).RootElement;
            Assert.Equal(status, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
            Assert.Contains(message, problem.GetProperty("detail").GetString());
            Assert.Equal(problem.GetProperty("detail").GetString(), problem.GetProperty("error").GetString());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            if (status == 401)
            {
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            }
        }
    }

    [Fact]
    public async Task A_body_over_a_mebibyte_is_a_json_413()
    {
        var before = await RunsAsync();
        // Expect: 100-continue, as a careful client sends a large body: the refusal comes before the 50 MB are sent.
        var (status, text, _) = await SendAsync(HttpMethod.Post, "/api/runs", Json($$"""{"kind": "trait", "profile": "{{new string('x', 50 << 20)}}"}"""),
            tweak: r => r.Headers.ExpectContinue = true);
        Assert.True(status == 413, $"{status}: {text[..Math.Min(200, text.Length)]}");
        Assert.Contains("larger than 1024 KiB", text);
        Assert.Equal(before, await RunsAsync());
    }

    [Fact]
    public async Task Cross_site_requests_cannot_change_anything()
    {
        var before = await RunsAsync();
        const string sweep = """{"run_id": "csrf", "kind": "trait", "targets": ["Male"], "profile": "quick"}""";
        // An HTML form or a no-cors fetch can send text/plain: refused even with the token.
        var (plain, plainText, _) = await SendAsync(HttpMethod.Post, "/api/runs", new StringContent(sweep, Encoding.UTF8, "text/plain"));
        Assert.True(plain == 415, plainText);
        // Another origin, even with the right token and JSON.
        var (foreign, foreignText, _) = await SendAsync(HttpMethod.Post, "/api/runs", Json(sweep), tweak: r => r.Headers.Add("Origin", "http://attacker.example"));
        Assert.True(foreign == 403, foreignText);
        // Without the token.
        Assert.Equal(401, (await SendAsync(HttpMethod.Post, "/api/runs/whatever/cancel", token: null)).Status);
        // DNS rebinding: a page at attacker.example resolving to this silo.
        var (rebound, reboundText, _) = await SendAsync(HttpMethod.Get, "/api/runs", tweak: r => r.Headers.Host = "attacker.example");
        Assert.True(rebound == 400, reboundText);
        Assert.Contains("host 'attacker.example' is not served here", reboundText);
        Assert.Equal(before, await RunsAsync());
        // The page's own origin is fine.
        var (same, sameText, _) = await SendAsync(HttpMethod.Post, "/api/runs/no-such-run/cancel",
            tweak: r => r.Headers.Add("Origin", cluster.Silos.First(s => !s.HasExited).DashboardUrl.GetLeftPart(UriPartial.Authority)));
        Assert.True(same == 404, sameText);
    }

    [Fact]
    public async Task Responses_say_nosniff_and_artifacts_that_are_not_images_download()
    {
        var (status, text, _) = await SendAsync(HttpMethod.Post, "/api/runs", Json("""{"run_id": "corpus-artifact", "kind": "noop", "parameters": {"duration_ms": 100}}"""));
        Assert.True(status is 200 or 201, text);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("corpus-artifact.noop") == "Succeeded", TimeSpan.FromMinutes(2), "the noop job");
        var (ok, _, response) = await SendAsync(HttpMethod.Get, "/api/jobs/corpus-artifact.noop/artifacts/eval.json", token: null);
        Assert.Equal(200, ok);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>A real, tiny PNG of <paramref name="side"/> x <paramref name="side"/> black pixels (compressed to a few kilobytes).</summary>
    private static byte[] BlackPng(int side)
    {
        using var stream = new MemoryStream();
        new StbImageWriteSharp.ImageWriter().WritePng(new byte[side * side], side, side, StbImageWriteSharp.ColorComponents.Grey, stream);
        return stream.ToArray();
    }

    [Fact]
    public async Task The_cli_refuses_what_its_parser_or_the_cluster_refuses_with_exit_code_2()
    {
        var folder = Directory.CreateTempSubdirectory("punkgrid-corpus-").FullName;
        var huge = Path.Combine(folder, "huge.png");
        await File.WriteAllBytesAsync(huge, BlackPng(5000));
        var oversized = Path.Combine(folder, "big.jpg");
        await using (var file = File.Create(oversized))
        {
            file.SetLength(PunkGrid.Contracts.InferenceLimits.MaxImageBytes + 1);
        }
        var existing = Path.Combine(folder, "a-file");
        await File.WriteAllTextAsync(existing, "x");
        var before = await RunsAsync();
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["submit", "bitcoin"], "Unrecognized command or argument 'bitcoin'"),
            (["submit", "traits", "--all", "--epochs", "1e12"], "Cannot parse argument '1e12' for option '--epochs'"),
            (["runs", "--limit", "abc"], "Cannot parse argument 'abc' for option '--limit'"),
            (["predict", "traits", "--run", "any", "--image", huge], "the image is 5000x5000; at most 4096x4096"),
            (["predict", "pokemon", "--run", "any", "--image", oversized], "at most 20971520 are accepted"),
            (["artifacts", "corpus-artifact.noop", "--out", existing], "is a file; give a folder"),
            (["submit", "traits", "--traits", "Male", "--train-samples", "10000000", "--color", "rgb"], "would need about"),
        })
        {
            var (exit, _, error) = await cluster.Cli(args);
            Assert.True(exit == PunkGridCommandLine.BadInput, $"{string.Join(' ', args)} → {exit}: {error}");
            Assert.Contains(expected, error);
            if (expected.StartsWith("Cannot parse", StringComparison.Ordinal) || expected.StartsWith("Unrecognized", StringComparison.Ordinal))
            {
                Assert.Contains("usage: punkgrid", error);
            }
        }
        Assert.Equal(before, await RunsAsync());
    }
}
