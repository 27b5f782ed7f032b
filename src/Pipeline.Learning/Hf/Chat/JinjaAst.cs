namespace Pipeline.Learning.Hf.Chat;

/// <summary>Nodes of a parsed template; each carries the line it starts on, for error messages.</summary>
internal abstract record Node(int Line);

internal abstract record Expr(int Line) : Node(Line);

internal sealed record Literal(int Line, object? Value) : Expr(Line);
internal sealed record NameRef(int Line, string Name) : Expr(Line);
internal sealed record ListExpr(int Line, IReadOnlyList<Expr> Items, bool IsTuple = false) : Expr(Line);
internal sealed record DictExpr(int Line, IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr(Line);
internal sealed record GetAttr(int Line, Expr Target, string Name) : Expr(Line);
internal sealed record GetItem(int Line, Expr Target, Expr Index) : Expr(Line);
internal sealed record SliceExpr(int Line, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Line);
internal sealed record CallExpr(int Line, Expr Target, IReadOnlyList<Expr> Args, IReadOnlyList<(string Name, Expr Value)> Kwargs) : Expr(Line);
internal sealed record FilterExpr(int Line, Expr Target, string Name, IReadOnlyList<Expr> Args, IReadOnlyList<(string Name, Expr Value)> Kwargs) : Expr(Line);
internal sealed record TestExpr(int Line, Expr Target, string Name, IReadOnlyList<Expr> Args, bool Negated) : Expr(Line);
internal sealed record UnaryExpr(int Line, string Op, Expr Operand) : Expr(Line);
internal sealed record BinaryExpr(int Line, string Op, Expr Left, Expr Right) : Expr(Line);
internal sealed record CondExpr(int Line, Expr Test, Expr Then, Expr? Else) : Expr(Line);

internal abstract record Stmt(int Line) : Node(Line);

internal sealed record OutputText(int Line, string Text) : Stmt(Line);
internal sealed record OutputExpr(int Line, Expr Value) : Stmt(Line);
internal sealed record IfStmt(int Line, IReadOnlyList<(Expr Test, IReadOnlyList<Stmt> Body)> Branches, IReadOnlyList<Stmt>? Else) : Stmt(Line);
internal sealed record ForStmt(int Line, IReadOnlyList<string> Targets, Expr Iter, Expr? Filter, IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt>? Else) : Stmt(Line);
internal sealed record SetStmt(int Line, IReadOnlyList<string> Targets, string? Attribute, Expr Value) : Stmt(Line);
internal sealed record SetBlockStmt(int Line, string Target, IReadOnlyList<Stmt> Body) : Stmt(Line);
internal sealed record MacroStmt(int Line, string Name, IReadOnlyList<(string Name, Expr? Default)> Params, IReadOnlyList<Stmt> Body) : Stmt(Line);
internal sealed record BreakStmt(int Line) : Stmt(Line);
internal sealed record ContinueStmt(int Line) : Stmt(Line);
/// <summary>transformers' <c>{% generation %}</c> marks assistant text for masks; rendering passes its body through.</summary>
internal sealed record GenerationStmt(int Line, IReadOnlyList<Stmt> Body) : Stmt(Line);
