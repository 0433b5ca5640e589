using System.Net;
using System.Net.Sockets;
using PunkGrid.Training.Data;

namespace PunkGrid.Training.Tests;

/// <summary>Fetches from a real HTTP server on loopback that serves files from a folder (no internet needed).</summary>
public sealed class DatasetFetcherTests : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly string served = TestData.NewTemporaryDirectory();
    private readonly Task serving;
    private readonly Uri baseUri;

    public DatasetFetcherTests()
    {
        var port = FreePort();
        baseUri = new Uri($"http://127.0.0.1:{port}/");
        listener.Prefixes.Add(baseUri.ToString());
        listener.Start();
        serving = Task.Run(ServeAsync);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (!listener.IsListening)
            {
                return;
            }
            var path = Path.Combine(served, context.Request.Url!.AbsolutePath.TrimStart('/'));
            if (File.Exists(path))
            {
                var bytes = await File.ReadAllBytesAsync(path);
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes);
            }
            else
            {
                context.Response.StatusCode = 404;
            }
            context.Response.Close();
        }
    }

    private IReadOnlyList<DatasetFile> Files() =>
    [
        new("cryptopunks/punks.png", new Uri(baseUri, "punks.png")),
        new("cryptopunks/cryptopunks-classic.csv", new Uri(baseUri, "cryptopunks-classic.csv")),
    ];

    [Fact]
    public async Task Files_are_fetched_into_the_expected_layout_and_kept_on_a_second_fetch()
    {
        File.Copy(DataDirectory.PunkSheetPath(TestData.Directory), Path.Combine(served, "punks.png"));
        File.Copy(DataDirectory.ClassicTraitsPath(TestData.Directory), Path.Combine(served, "cryptopunks-classic.csv"));
        var destination = TestData.NewTemporaryDirectory();
        using var http = new HttpClient();
        var fetcher = new DatasetFetcher(http);

        var written = await fetcher.FetchAsync(destination, Files());
        Assert.Equal(2, written.Count);
        Assert.Equal(File.ReadAllBytes(DataDirectory.PunkSheetPath(TestData.Directory)), File.ReadAllBytes(DataDirectory.PunkSheetPath(destination)));
        Assert.Equal(6039, PunkTraitTable.Load(DataDirectory.ClassicTraitsPath(destination)).CountOf("Male"));

        Assert.Empty(await fetcher.FetchAsync(destination, Files()));
        Assert.Equal(2, (await fetcher.FetchAsync(destination, Files(), force: true)).Count);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(destination, "cryptopunks")).Length); // no temporaries left
    }

    [Fact]
    public async Task A_bad_download_never_replaces_a_good_file()
    {
        File.WriteAllText(Path.Combine(served, "punks.png"), "not an image");
        var destination = TestData.NewTemporaryDirectory();
        Directory.CreateDirectory(Path.Combine(destination, "cryptopunks"));
        var good = DataDirectory.PunkSheetPath(destination);
        File.Copy(DataDirectory.PunkSheetPath(TestData.Directory), good);
        using var http = new HttpClient();

        var error = await Assert.ThrowsAsync<DataFormatException>(() => new DatasetFetcher(http).FetchAsync(destination, Files().Take(1).ToList(), force: true));
        Assert.Contains("is not a readable PNG", error.Message);
        Assert.Equal(File.ReadAllBytes(DataDirectory.PunkSheetPath(TestData.Directory)), File.ReadAllBytes(good));
        Assert.Single(Directory.GetFiles(Path.Combine(destination, "cryptopunks")));
    }

    [Fact]
    public async Task A_missing_remote_file_is_an_http_error_naming_the_address()
    {
        using var http = new HttpClient();
        var error = await Assert.ThrowsAsync<HttpRequestException>(() =>
            new DatasetFetcher(http).FetchAsync(TestData.NewTemporaryDirectory(), Files().Skip(1).ToList()));
        Assert.Contains("cryptopunks-classic.csv failed: HTTP 404", error.Message);
    }

    [Fact]
    public void Unknown_datasets_name_the_known_ones()
    {
        Assert.Equal(3, DatasetFetcher.FilesOf("cryptopunks").Count);
        Assert.Contains("unknown dataset 'mnist'; allowed: cryptopunks", Assert.Throws<ArgumentException>(() => DatasetFetcher.FilesOf("mnist")).Message);
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        serving.Wait(TimeSpan.FromSeconds(5));
    }
}
