using Microsoft.Playwright;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Debian's Chromium, headless, driven by Playwright for .NET (its own browser download is not used:
/// <c>ExecutablePath</c> points at the system Chromium, which <c>./punkgrid test</c> and <c>.ci/run</c> install).
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly IPlaywright playwright;
    private readonly IBrowser browser;

    private HeadlessChromium(IPlaywright playwright, IBrowser browser)
    {
        this.playwright = playwright;
        this.browser = browser;
    }

    public static string Executable =>
        new[] { Environment.GetEnvironmentVariable("PUNKGRID_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
            .FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("no Chromium found (apt-get install chromium, or set PUNKGRID_CHROMIUM)");

    /// <param name="executable">The browser to start (default <see cref="Executable"/>): a wrapper that starts it inside a
    /// host of <see cref="NetworkHosts"/>, for one. Playwright drives it over a pipe, so it works from any network.</param>
    public static async Task<HeadlessChromium> LaunchAsync(string? executable = null)
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable ?? Executable,
            Headless = true,
            // As root and on a closed network: no sandbox, and none of Chromium's background connections.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        return new HeadlessChromium(playwright, browser);
    }

    public async Task<IPage> OpenAsync(Uri url)
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync(url.ToString());
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
    }
}
